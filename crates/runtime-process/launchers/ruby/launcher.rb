# frozen_string_literal: true

# eddy's Ruby launcher: runs one function the way Vercel's Ruby runtime does (vercel-compat 5)
# and speaks the instance protocol with eddy (design section 4).
#
# Environment (set by eddy): VERCEL_IPC_PATH (the host's socket) and EDDY_HANDLER: the
# function's file relative to the working directory (`*.rb` defining `Handler`, or a Rack
# `*.ru`), or the build step's `*.json` manifest `{entry, gemfile, bundlePath}` when the
# function has a Gemfile.
#
# Flow: connect to the host; route $stdout/$stderr through IPC; set up the bundle (if any);
# load the function; serve it with WEBrick on 127.0.0.1 (random port, one thread per
# connection: concurrent requests in one instance); send `server-started`. Per request: strip
# the x-vercel-internal-* headers, serve with the invocation in a thread variable, send `end`
# once the response is written. An error of user code fails only its own invocation (500 with
# a marker eddy turns into FUNCTION_INVOCATION_FAILED) and is reported in `end`; the process
# keeps running and eddy drains it. SIGTERM: stop accepting, finish in-flight requests, exit 0.

START = Process.clock_gettime(Process::CLOCK_MONOTONIC)

require_relative 'ipc'

module EddyLauncher
  # The function could not be loaded: the message says what and where.
  class LoadFailure < StandardError; end

  class << self
    def utf8(text)
      text.to_s.dup.force_encoding(Encoding::UTF_8).scrub
    end

    # The error and the frames of user code (the launcher's, WEBrick's and Ruby's own are noise).
    def describe(error)
      backtrace = (error.backtrace || []).reject do |line|
        line.start_with?(__dir__, '<internal:') || line.include?('/webrick/') || line.match?(%r{/webrick-[^/]+/lib/})
      end
      utf8(["#{error.class}: #{error.message}", *backtrace].join("\n\t"))
    end

    def fail_startup(message)
      IPC.send_message('unrecoverable-error', { exitCode: 1, message: utf8(message) })
      STDERR.write("#{utf8(message)}\n")
      exit!(1)
    end

    # The function file and, for a bundled function, its Gemfile set up.
    def entry(handler)
      return handler unless handler.end_with?('.json')

      manifest = JSON.parse(File.read(handler))
      ENV['BUNDLE_GEMFILE'] = manifest.fetch('gemfile')
      ENV['BUNDLE_PATH'] = manifest.fetch('bundlePath')
      setup_bundle(manifest.fetch('gemfile'))
      manifest.fetch('entry')
    rescue JSON::ParserError, KeyError, SystemCallError => e
      raise LoadFailure, "eddy's build manifest #{handler} is unreadable (#{e.message}); save a file to rebuild"
    end

    def setup_bundle(gemfile)
      # webrick and rack serve the function, whether or not the Gemfile lists them: note where
      # the installed ones are before Bundler hides every gem outside the bundle.
      @fallback_paths = %w[webrick rack].to_h do |name|
        [name, Gem::Specification.find_by_name(name).full_require_paths]
      rescue Gem::MissingSpecError
        [name, []]
      end
      require 'bundler/setup'
    rescue LoadError, StandardError => e
      raise LoadFailure, "cannot load the gems of #{gemfile}: #{e.class}: #{e.message}"
    end

    # Requires a library the launcher needs: from the bundle if it has it, else the installed one.
    def require_server_library(name)
      require name
    rescue LoadError
      paths = (@fallback_paths || {}).fetch(name, [])
      raise LoadFailure, "the #{name} library is missing (install it: apt-get install ruby-#{name}, or gem install #{name})" if paths.empty?

      $LOAD_PATH.concat(paths)
      require name
    end

    def load_function(entry, server)
      path = File.expand_path(entry)
      raise LoadFailure, "#{entry} does not exist" unless File.file?(path)

      if entry.end_with?('.ru')
        mount_rack(entry, path, server)
      else
        require path
        mount_handler(entry, server)
      end
    end

    def mount_rack(entry, path, server)
      require_server_library('rack')
      require_relative 'rack_adapter'
      built = Rack::Builder.parse_file(path)
      app = built.is_a?(Array) ? built.first : built
      raise LoadFailure, "#{entry} does not define a Rack app (call `run app` in it)" unless app.respond_to?(:call)

      server.mount('/', RackServlet, app)
    end

    def mount_handler(entry, server)
      unless Object.const_defined?(:Handler)
        raise LoadFailure, "Handler not defined in #{entry} (define `Handler = Proc.new { |req, res| ... }` or a WEBrick::HTTPServlet::AbstractServlet subclass named Handler)"
      end

      handler = Object.const_get(:Handler)
      if handler.respond_to?(:get_instance)
        server.mount('/', handler)
      elsif handler.respond_to?(:call)
        server.mount_proc('/') { |req, res| handler.call(req, res) }
      else
        raise LoadFailure, "Handler in #{entry} is a #{handler.class}: it must be a Proc taking (request, response) or a WEBrick::HTTPServlet::AbstractServlet subclass"
      end
    end

    def new_server
      Server.new(
        BindAddress: '127.0.0.1',
        Port: 0,
        MaxClients: 1024,
        # Keep idle keep-alive connections as long as the host's pool may reuse them.
        RequestTimeout: 600,
        Logger: WEBrick::Log.new($stderr, WEBrick::BasicLog::ERROR),
        AccessLog: [],
        ServerSoftware: 'eddy',
        # A SIGTERM that came before the server ran: stop as soon as it does.
        StartCallback: -> { @server&.shutdown if @stop_requested }
      )
    end

    def main
      ipc_path = ENV.fetch('VERCEL_IPC_PATH', '')
      if ipc_path.empty?
        STDERR.write("eddy launcher: VERCEL_IPC_PATH is not set (the launcher runs under eddy)\n")
        exit!(1)
      end
      begin
        IPC.connect(ipc_path)
      rescue SystemCallError => e
        STDERR.write("eddy launcher: cannot connect to #{ipc_path}: #{e.message}\n")
        exit!(1)
      end
      capture_output
      server = @server = start_function(ENV.fetch('EDDY_HANDLER', ''))
      trap('TERM') do
        @stop_requested = true
        server.shutdown
      end
      init_ms = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - START) * 1000).round
      IPC.send_message('server-started', { initDuration: init_ms, httpPort: server.listeners.first.addr[1] })
      server.start
      exit(0)
    end

    def start_function(handler)
      entry = self.entry(handler)
      require_server_library('webrick')
      # server.rb's classes subclass WEBrick's: loaded once WEBrick is (from the bundle if it has it).
      require_relative 'server'
      server = new_server
      load_function(entry, server)
      server
    rescue LoadFailure => e
      fail_startup(e.message)
    rescue ScriptError, StandardError => e
      fail_startup("cannot load #{entry || handler}: #{describe(e)}")
    end
  end
end

EddyLauncher.main
