# The threaded servers (one thread per connection, like Vercel's ThreadingHTTPServer): the
# user's BaseHTTPRequestHandler subclass, and WSGI apps on an HTTP/1.1 keep-alive server that
# streams response iterables chunk by chunk (vercel-compat 3).

import io
import socket
import socketserver
import struct
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eddy_invocation import (
    FAILURE_CODE,
    FAILURE_MARKER,
    PING_PATH,
    Invocation,
    take_internal,
)

MAX_REQUEST_LINE = 65536


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # eddy opens one connection per concurrent request: a deep accept queue keeps a burst of
    # them from waiting on SYN retries.
    request_queue_size = 1024

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (slow, pointless on loopback).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        # A broken connection of one request is not worth a traceback in the function's logs.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def start(handler_class):
    """Binds 127.0.0.1 on a random port; serving starts with `serve_forever` in a thread."""
    return Server(("127.0.0.1", 0), handler_class)


class _TrackedWriter:
    """The response stream of one connection, noting whether any byte went out."""

    def __init__(self, raw):
        self._raw = raw
        self.sent = False

    def write(self, data):
        if data:
            self.sent = True
        return self._raw.write(data)

    def flush(self):
        return self._raw.flush()

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _abort(connection):
    """Resets the connection, so eddy sees a broken response rather than a short one."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


class _Protocol:
    """What both threaded shapes do per request (mixed into a BaseHTTPRequestHandler)."""

    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.wfile = _TrackedWriter(self.wfile)

    def _read_request(self):
        """Reads the request head; False when the connection is done or got an error reply."""
        self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return False
        if not self.raw_requestline:
            self.close_connection = True
            return False
        return self.parse_request()

    def _answer_ping(self):
        self.send_response_only(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def _begin(self):
        """Strips the platform's headers and starts the invocation."""
        internal, rest = take_internal(self.headers.items())
        for name in {n.lower() for n, _ in self.headers.items()}:
            del self.headers[name]
        forwarded_host = next((v for n, v in rest if n.lower() == "x-forwarded-host"), None)
        for name, value in rest:
            if forwarded_host and name.lower() == "host":
                value = forwarded_host
            self.headers[name] = value
        invocation = Invocation(internal, self.path)
        invocation.begin()
        self.wfile.sent = False
        return invocation

    def _fail(self, invocation, error):
        reason = invocation.fail(error)
        self.close_connection = True
        if self.wfile.sent:
            _abort(self.connection)
            return
        # Headers the user queued but never sent are dropped with the response.
        self._headers_buffer = []
        body = reason.encode("utf-8", "replace")
        try:
            self.send_response_only(500)
            self.send_header(FAILURE_MARKER, FAILURE_CODE)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def handle_one_request(self):
        try:
            if not self._read_request():
                return
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        if self.command == "GET" and self.path == PING_PATH:
            self._answer_ping()
            return
        invocation = self._begin()
        try:
            self._dispatch()
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            # eddy hung up (the client left): nothing to answer, nobody to blame.
            self.close_connection = True
        except BaseException as error:  # noqa: BLE001 - any error of user code fails only its request
            if isinstance(error, KeyboardInterrupt):
                raise
            self._fail(invocation, error)
        finally:
            invocation.end()


def handler_class(user_class):
    """The user's BaseHTTPRequestHandler subclass, speaking the instance protocol."""

    class Handler(_Protocol, user_class):
        def _dispatch(self):
            method = "do_" + self.command
            if not hasattr(self, method):
                self.send_error(501, "Unsupported method (%r)" % self.command)
                return
            getattr(self, method)()

    if user_class.log_request is BaseHTTPRequestHandler.log_request:
        # One access-log line per request is noise in function logs (eddy logs requests).
        Handler.log_request = lambda self, code="-", size="-": None
    Handler.__name__ = user_class.__name__
    Handler.__qualname__ = user_class.__qualname__
    Handler.__module__ = user_class.__module__
    return Handler


# ---- WSGI --------------------------------------------------------------------------------

_NO_BODY_STATUSES = (204, 304)
_HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive"}


class BadRequest(Exception):
    pass


def _read_body(handler):
    headers = handler.headers
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            line = handler.rfile.readline(MAX_REQUEST_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("malformed chunk size " + repr(line[:40]))
            if size == 0:
                # Trailers end with an empty line.
                while handler.rfile.readline(MAX_REQUEST_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(MAX_REQUEST_LINE)
    length = headers.get("content-length")
    if length is None:
        return b""
    try:
        length = int(length)
    except ValueError:
        raise BadRequest("malformed content-length " + repr(length))
    if length < 0:
        raise BadRequest("negative content-length")
    return handler.rfile.read(length) if length else b""


def _first(headers, name):
    value = headers.get(name)
    return value.split(",")[0].strip() if value else None


def wsgi_environ(handler, body):
    headers = handler.headers
    path, _, query = handler.path.partition("?")
    host = headers.get("host", "")
    environ = {
        "REQUEST_METHOD": handler.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(path, "iso-8859-1"),
        "QUERY_STRING": query,
        "RAW_URI": handler.path,
        "REQUEST_URI": handler.path,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": host.rsplit(":", 1)[0] if host else "lambda",
        "SERVER_PORT": headers.get("x-forwarded-port") or "80",
        "SERVER_PROTOCOL": handler.request_version,
        "REMOTE_ADDR": _first(headers, "x-forwarded-for")
        or headers.get("x-real-ip")
        or handler.client_address[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": _first(headers, "x-forwarded-proto") or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name in {n.lower() for n in headers.keys()}:
        if name in ("content-type", "content-length", "transfer-encoding"):
            continue
        values = headers.get_all(name) or []
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = ("; " if name == "cookie" else ",").join(values)
    return environ


class _Response:
    """The response of one WSGI call: head written on the first body byte (or at the end),
    content-length kept when the app set it, else chunked and sent as produced."""

    def __init__(self, handler):
        self.handler = handler
        self.status = None
        self.headers = None
        self.head_sent = False
        self.chunked = False
        self.no_body = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() was already called")
        if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
            raise ValueError("WSGI status must be a string like '200 OK', got %r" % (status,))
        self.status = status
        self.headers = list(headers)
        return self.write

    def send_head(self, known_length=None):
        if self.status is None:
            raise AssertionError("the WSGI application did not call start_response() before its body")
        handler = self.handler
        code = int(self.status[:3])
        self.no_body = handler.command == "HEAD" or code in _NO_BODY_STATUSES or code < 200
        lines = ["HTTP/1.1 " + self.status + "\r\n"]
        has_length = False
        for name, value in self.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            if lower == "content-length":
                has_length = True
            lines.append(name + ": " + value + "\r\n")
        if not has_length and not self.no_body:
            if known_length is not None:
                lines.append("Content-Length: %d\r\n" % known_length)
            elif handler.request_version == "HTTP/1.1":
                self.chunked = True
                lines.append("Transfer-Encoding: chunked\r\n")
            else:
                handler.close_connection = True
        if handler.close_connection:
            lines.append("Connection: close\r\n")
        handler.wfile.write("".join(lines).encode("latin-1") + b"\r\n")
        self.head_sent = True

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("WSGI body chunks must be bytes, got " + type(data).__name__)
        if not self.head_sent:
            self.send_head()
        if not data or self.no_body:
            return
        if self.chunked:
            self.handler.wfile.write(b"%x\r\n" % len(data) + bytes(data) + b"\r\n")
        else:
            self.handler.wfile.write(data)

    def finish(self):
        if not self.head_sent:
            self.send_head(known_length=0)
        elif self.chunked:
            self.handler.wfile.write(b"0\r\n\r\n")


def wsgi_class(app):
    """A request handler serving the WSGI callable `app`."""

    class WsgiHandler(_Protocol, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "eddy"
        sys_version = ""

        def log_request(self, code="-", size="-"):
            pass

        def _dispatch(self):
            try:
                body = _read_body(self)
            except BadRequest as error:
                self.close_connection = True
                self.send_error(400, str(error))
                return
            response = _Response(self)
            result = app(wsgi_environ(self, body), response.start_response)
            try:
                if isinstance(result, (list, tuple)) and response.status is not None:
                    chunks = [bytes(c) for c in result]
                    if not response.head_sent:
                        response.send_head(known_length=sum(len(c) for c in chunks))
                    for chunk in chunks:
                        response.write(chunk)
                else:
                    for chunk in result:
                        response.write(chunk)
                response.finish()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return WsgiHandler

