# frozen_string_literal: true

# Serves a Rack app (a `*.ru` file) through WEBrick: the Rack env is built from the WEBrick
# request, and the response body is streamed chunk by chunk as the app yields it.

require 'stringio'

module EddyLauncher
  # A WEBrick servlet calling one Rack app; mounted at `/` so it sees every path.
  class RackServlet < WEBrick::HTTPServlet::AbstractServlet
    def initialize(server, app)
      super(server)
      @app = app
    end

    def service(req, res)
      status, headers, body = @app.call(rack_env(req))
      res.status = status.to_i
      copy_headers(headers, res)
      respond_with(body, req, res)
    end

    private

    def rack_env(req)
      env = {
        'REQUEST_METHOD' => req.request_method,
        'SCRIPT_NAME' => '',
        'PATH_INFO' => raw_path(req),
        'QUERY_STRING' => req.query_string.to_s,
        'SERVER_NAME' => req.host.to_s,
        'SERVER_PORT' => req.port.to_s,
        'SERVER_PROTOCOL' => "HTTP/#{req.http_version}",
        'SERVER_SOFTWARE' => 'eddy',
        'REMOTE_ADDR' => req['x-real-ip'] || req.peeraddr&.at(3).to_s,
        'rack.version' => Rack::VERSION,
        'rack.input' => StringIO.new(req.body.to_s.b),
        'rack.errors' => $stderr,
        'rack.multithread' => true,
        'rack.multiprocess' => false,
        'rack.run_once' => false,
        'rack.url_scheme' => req['x-forwarded-proto'] == 'https' ? 'https' : 'http',
        'rack.hijack?' => false
      }
      req.each do |name, value|
        key = name.upcase.tr('-', '_')
        key = "HTTP_#{key}" unless %w[CONTENT_TYPE CONTENT_LENGTH].include?(key)
        env[key] = value
      end
      env['HTTP_VERSION'] ||= env['SERVER_PROTOCOL']
      env
    end

    # The path as the client sent it (still percent-encoded), as Rack servers pass it.
    def raw_path(req)
      path = req.unparsed_uri.to_s.split('?', 2).first.to_s
      path.start_with?('/') ? path : req.path.to_s
    end

    # Rack 2 joins repeated values with "\n", Rack 3 gives arrays. WEBrick sends one line per
    # header except Set-Cookie, so other repeated values are joined with ", " (RFC 9110 5.3).
    def copy_headers(headers, res)
      headers.each do |name, value|
        values = value.is_a?(Array) ? value.map(&:to_s) : value.to_s.split("\n")
        if name.to_s.casecmp?('set-cookie')
          res.cookies.concat(values)
        else
          res[name.to_s] = values.join(', ')
        end
      end
    end

    def respond_with(body, req, res)
      if body.respond_to?(:to_ary)
        res.body = body.to_ary.map(&:to_s).join
        body.close if body.respond_to?(:close)
      elsif body.respond_to?(:to_path) && File.file?(body.to_path.to_s)
        res.body = File.open(body.to_path.to_s, 'rb')
        body.close if body.respond_to?(:close)
      else
        res.chunked = true if res['content-length'].nil? && req.http_version.to_s >= '1.1'
        res.body = streaming_body(body)
      end
    end

    # Each chunk goes to the socket as the app yields it; bodies that are only callable (Rack 3
    # streaming bodies) get the socket writer as their stream.
    def streaming_body(body)
      proc do |out|
        if body.respond_to?(:each)
          body.each { |chunk| out.write(chunk.to_s) }
        else
          body.call(Stream.new(out))
        end
      ensure
        body.close if body.respond_to?(:close)
      end
    end

    # The stream a Rack 3 callable body writes to.
    class Stream
      def initialize(out)
        @out = out
      end

      def write(chunk)
        @out.write(chunk.to_s)
      end

      def <<(chunk)
        write(chunk)
        self
      end

      def flush = self
      def close; end
      def close_write; end
      def closed? = false
    end
  end
end
