# frozen_string_literal: true

# The instance side of eddy's instance protocol (Vercel's Fluid IPC): JSON messages, each
# terminated by one NUL byte, written to the Unix socket named by VERCEL_IPC_PATH. Also the
# capture of user output: $stdout and $stderr become `log` messages tagged with the invocation
# of the thread that wrote them.

require 'json'
require 'socket'
require 'stringio'

module EddyLauncher
  # The Unix socket to the host, shared by every thread.
  module IPC
    @socket = nil
    @lock = Mutex.new

    class << self
      # Connects to the host. When the host goes away nobody is left to serve: exit.
      def connect(path)
        @socket = UNIXSocket.new(path)
        Thread.new do
          # The host sends nothing today; reading notices its end.
          @socket.read
        rescue IOError, SystemCallError
          nil
        ensure
          exit!(0)
        end
      end

      def connected?
        !@socket.nil?
      end

      # Sends one message; a host that is gone is not an error here (the reader thread exits).
      def send_message(type, payload)
        frame = "#{JSON.generate({ type: type, payload: payload })}\0"
        @lock.synchronize { @socket&.write(frame) }
        nil
      rescue IOError, SystemCallError
        nil
      end

      # A `log` message; `kind` is `{ level: }` or `{ stream: }`, `context` may be nil.
      def log(kind, context, text)
        bytes = text.to_s.b
        payload = { message: [bytes].pack('m0') }
        payload[:context] = context if context
        send_message('log', payload.merge(kind))
      end
    end
  end

  # A writable stand-in for $stdout/$stderr: every write becomes one `log` message with the
  # current invocation's context. Methods of IO it does not define go to the real stream.
  class LogStream
    def initialize(stream, real)
      @stream = stream
      @real = real
    end

    def write(*parts)
      text = parts.map(&:to_s).join
      return 0 if text.empty?

      if IPC.connected?
        IPC.log({ stream: @stream }, EddyLauncher.current_context, text)
      else
        @real.write(text)
      end
      text.bytesize
    end

    def <<(part)
      write(part)
      self
    end

    # puts, print, printf and putc format exactly as IO does (StringIO shares IO's code), then
    # send the result as one message.
    %i[puts print printf putc].each do |name|
      define_method(name) do |*args|
        buffer = StringIO.new
        buffer.public_send(name, *args)
        write(buffer.string)
        name == :putc ? args.first : nil
      end
    end

    def syswrite(text) = write(text)
    def flush = self
    def fsync = 0
    def sync = true
    def sync=(_value); end
    def tty? = false
    def isatty = false
    def closed? = false
    def fileno = @real.fileno
    def to_io = @real

    def respond_to_missing?(name, include_private = false)
      @real.respond_to?(name, include_private) || super
    end

    def method_missing(name, *args, &block)
      return super unless @real.respond_to?(name)

      @real.public_send(name, *args, &block)
    end
  end

  # Routes all output of Ruby code through IPC; writes to the file descriptors themselves (from
  # C extensions or child processes) still reach the host, which logs them untagged.
  def self.capture_output
    $stdout = LogStream.new('stdout', STDOUT)
    $stderr = LogStream.new('stderr', STDERR)
  end

  # The invocation the current thread serves, or nil. A true thread variable, so fibers (an
  # Enumerator streaming a body) see it too.
  def self.current_invocation
    Thread.current.thread_variable_get(:eddy_invocation)
  end

  def self.current_context
    current_invocation&.context
  end
end
