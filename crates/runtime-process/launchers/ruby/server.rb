# frozen_string_literal: true

# The instance protocol around WEBrick: per request, strip the platform's headers, serve with the
# invocation in a thread variable (so output is tagged with it), turn an error of user code into
# a failed invocation, and send `end` once the response is written. Loaded once WEBrick is.

module EddyLauncher
  INTERNAL_PREFIX = 'x-vercel-internal-'
  # Header of the 500 the launcher sends when user code raised before responding.
  FAILURE_MARKER = 'x-eddy-error'

  # One request being served: its IPC context and the error it ended with.
  class Invocation
    attr_reader :context, :url
    attr_accessor :error

    def initialize(context, url)
      @context = context
      @url = url
      @error = nil
    end
  end

  class << self
    # An error of user code while serving `invocation`: log it, keep it for `end`.
    def record_error(invocation, error)
      report = "Error from Ruby function #{invocation.url}: #{describe(error)}\n"
      IPC.log({ level: 'error' }, invocation.context, report)
      invocation.error ||= { message: utf8(error.message), stack: describe(error) }
    end

    # Sends `end` for `invocation` (if the host gave it ids) and forgets it on this thread.
    def finish(invocation)
      IPC.send_message('end', { context: invocation.context, error: invocation.error }) if invocation.context
      Thread.current.thread_variable_set(:eddy_invocation, nil)
    end
  end

  # A response that reports the end of its invocation once it is written, and remembers an
  # error raised while a streamed body was produced.
  class Response < WEBrick::HTTPResponse
    attr_accessor :invocation

    def send_body(socket)
      super
    rescue Errno::EPIPE, Errno::ECONNRESET, Errno::ENOTCONN
      raise
    rescue Exception => e # rubocop:disable Lint/RescueException -- user code, reported in `end`
      raise unless invocation

      # Half a response is out: breaking the connection is the only honest way to fail it.
      EddyLauncher.record_error(invocation, e)
      @keep_alive = false
    end

    def send_response(socket)
      super
    ensure
      EddyLauncher.finish(invocation) if invocation
    end
  end

  # WEBrick's server with the instance protocol around each request.
  class Server < WEBrick::HTTPServer
    def run(sock)
      sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      super
    rescue SystemCallError
      super
    end

    def create_response(config)
      Response.new(config)
    end

    def service(req, res)
      if req.request_method == 'GET' && req.unparsed_uri == '/_vercel/ping'
        res.status = 200
        res.body = 'OK'
        return
      end
      invocation = begin_invocation(req)
      res.invocation = invocation
      Thread.current.thread_variable_set(:eddy_invocation, invocation)
      begin
        super
      rescue WEBrick::HTTPStatus::Status
        # WEBrick's own answers (404, 405, redirects) are responses, not failures.
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- user code, reported in `end`
        EddyLauncher.record_error(invocation, e)
        fail_response(res, e)
      end
    end

    private

    # Reads and removes the platform's headers; re-sets `host` from x-forwarded-host.
    def begin_invocation(req)
      internal = {}
      req.header.each_key.select { |name| name.start_with?(INTERNAL_PREFIX) }.each do |name|
        internal[name.delete_prefix(INTERNAL_PREFIX)] = req.header.delete(name).first
      end
      req.raw_header.reject! { |line| line.downcase.start_with?(INTERNAL_PREFIX) }
      if internal['oidc-token'] && !req.header.key?('x-vercel-oidc-token')
        req.header['x-vercel-oidc-token'] = [internal['oidc-token']]
      end
      forwarded_host = req.header['x-forwarded-host']&.first
      req.header['host'] = [forwarded_host] if forwarded_host && !forwarded_host.empty?
      Invocation.new(ipc_context(internal), req.unparsed_uri)
    end

    def ipc_context(internal)
      invocation_id = internal['invocation-id']
      return nil if invocation_id.nil?

      request_id = internal['request-id']
      request_id = Integer(request_id, 10) rescue request_id # rubocop:disable Style/RescueModifier
      { invocationId: invocation_id, requestId: request_id }
    end

    def fail_response(res, error)
      res.header.clear
      res.cookies.clear
      res.chunked = false
      res.status = 500
      res[FAILURE_MARKER] = 'FUNCTION_INVOCATION_FAILED'
      res['content-type'] = 'text/plain; charset=utf-8'
      res.body = EddyLauncher.utf8("#{error.class}: #{error.message}").lines.first.to_s.chomp
    end
  end
end
