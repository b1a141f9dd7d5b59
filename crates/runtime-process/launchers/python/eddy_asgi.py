# A small asyncio HTTP/1.1 server for ASGI apps (vercel-compat 3): keep-alive connections,
# content-length and chunked request bodies, responses with content-length or chunked and sent
# as the app produces them, the `lifespan` protocol run at startup and shutdown, and
# concurrency through the event loop (one task per connection).

import asyncio
import socket
import traceback
import urllib.parse

import eddy_ipc
from eddy_invocation import (
    FAILURE_CODE,
    FAILURE_MARKER,
    PING_PATH,
    Invocation,
    inflight,
    take_internal,
)

MAX_HEAD = 64 * 1024
ASGI = {"version": "3.0", "spec_version": "2.3"}
_NO_BODY_STATUSES = (204, 304)
_HOP_BY_HOP = {b"connection", b"transfer-encoding", b"keep-alive"}
_PING_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 2\r\n\r\nOK"
)


class StartupFailed(Exception):
    """The app's lifespan startup failed; the instance cannot serve."""


class Lifespan:
    """The `lifespan` scope of the app (uvicorn's "auto" mode): an app that raises before it
    takes the startup event does not support lifespan, and is served without."""

    def __init__(self, app):
        self.app = app
        self.state = {}
        self._queue = asyncio.Queue()
        self._started = asyncio.get_running_loop().create_future()
        self._stopped = asyncio.get_running_loop().create_future()
        self._received_startup = False
        self._task = None

    async def _receive(self):
        message = await self._queue.get()
        if message["type"] == "lifespan.startup":
            self._received_startup = True
        return message

    async def _send(self, message):
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            _settle(self._started, None)
        elif kind == "lifespan.startup.failed":
            _settle(self._started, message.get("message") or "lifespan startup failed")
        elif kind == "lifespan.shutdown.complete":
            _settle(self._stopped, None)
        elif kind == "lifespan.shutdown.failed":
            _settle(self._stopped, message.get("message") or "lifespan shutdown failed")

    async def _run(self):
        scope = {"type": "lifespan", "asgi": ASGI, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as error:  # noqa: BLE001 - reported below
            if not self._received_startup:
                # Lifespan unsupported (e.g. `assert scope["type"] == "http"`).
                _settle(self._started, None)
                _settle(self._stopped, None)
                return
            message = "the ASGI lifespan raised: " + "".join(
                traceback.format_exception(type(error), error, error.__traceback__)
            )
            if self._started.done():
                eddy_ipc.send_log(message, level="error")
            _settle(self._started, message)
            _settle(self._stopped, message)
        finally:
            _settle(self._started, None)
            _settle(self._stopped, None)

    async def startup(self):
        self._task = asyncio.ensure_future(self._run())
        self._task.add_done_callback(_ignore_result)
        await self._queue.put({"type": "lifespan.startup"})
        failure = await self._started
        if failure is not None:
            raise StartupFailed(failure)

    async def shutdown(self, timeout):
        if self._task is None or self._task.done():
            return
        await self._queue.put({"type": "lifespan.shutdown"})
        try:
            failure = await asyncio.wait_for(asyncio.shield(self._stopped), timeout)
        except asyncio.TimeoutError:
            eddy_ipc.send_log("lifespan shutdown did not complete in %d s\n" % timeout, level="warn")
            return
        if failure is not None:
            eddy_ipc.send_log(failure + "\n", level="error")


def _settle(future, value):
    if not future.done():
        future.set_result(value)


def _ignore_result(task):
    if not task.cancelled():
        task.exception()


class _Aborted(Exception):
    """The connection broke while answering; nobody is left to answer."""


class _Connection:
    def __init__(self, app, lifespan, reader, writer):
        self.app = app
        self.lifespan = lifespan
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.peer = (peer[0], peer[1])
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.local = (local[0], local[1])

    async def serve(self):
        try:
            while await self._one():
                pass
        except (ConnectionError, asyncio.IncompleteReadError, _Aborted):
            pass
        finally:
            self.writer.close()

    async def _write(self, data):
        if self.writer.is_closing():
            raise _Aborted()
        self.writer.write(data)
        await self.writer.drain()

    async def _error(self, status, reason):
        body = reason.encode()
        head = "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        await self._write((head % (status, reason, len(body))).encode() + body)
        return False

    async def _read_body(self, headers):
        encoding = headers.get(b"transfer-encoding", b"").lower()
        if b"chunked" in encoding:
            chunks = []
            while True:
                line = await self.reader.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    return b"".join(chunks)
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        length = headers.get(b"content-length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            return None
        if length < 0:
            return None
        return await self.reader.readexactly(length) if length else b""

    async def _one(self):
        """Serves one request; whether the connection stays open for the next."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if error.partial.strip():
                return await self._error(400, "Bad Request")
            return False
        except asyncio.LimitOverrunError:
            return await self._error(431, "Request Header Fields Too Large")
        lines = head[:-4].split(b"\r\n")
        try:
            method, target, version = lines[0].decode("latin-1").split(" ", 2)
            raw_headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                raw_headers.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
        except ValueError:
            return await self._error(400, "Bad Request")
        if method == "GET" and target == PING_PATH:
            await self._write(_PING_RESPONSE)
            return True
        internal, pairs = take_internal(raw_headers)
        forwarded_host = next((v for n, v in pairs if n.lower() == "x-forwarded-host"), None)
        headers = []
        index = {}
        for name, value in pairs:
            lower = name.lower()
            if forwarded_host and lower == "host":
                value = forwarded_host
            key = lower.encode("latin-1")
            headers.append((key, value.encode("latin-1")))
            index.setdefault(key, headers[-1][1])
        connection = index.get(b"connection", b"").lower()
        keep_alive = (
            b"keep-alive" in connection if version == "HTTP/1.0" else b"close" not in connection
        )
        body = await self._read_body(index)
        if body is None:
            return await self._error(400, "Bad Request")
        headers = [(n, v) for n, v in headers if n != b"transfer-encoding"]
        invocation = Invocation(internal, target)
        invocation.begin()
        try:
            return await self._invoke(invocation, method, target, version, headers, index, body, keep_alive)
        finally:
            invocation.end()

    async def _invoke(self, invocation, method, target, version, headers, index, body, keep_alive):
        raw_path, _, query = target.partition("?")
        scheme = index.get(b"x-forwarded-proto", b"http").split(b",")[0].strip().decode("latin-1")
        scope = {
            "type": "http",
            "asgi": ASGI,
            "http_version": version.split("/", 1)[-1],
            "method": method,
            "scheme": scheme or "http",
            "path": urllib.parse.unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": self.peer,
            "server": self.local,
            "state": dict(self.lifespan.state),
        }
        response = _Response(self, method, version, keep_alive)
        body_taken = False

        async def receive():
            nonlocal body_taken
            if not body_taken:
                body_taken = True
                return {"type": "http.request", "body": body, "more_body": False}
            await response.done.wait()
            return {"type": "http.disconnect"}

        try:
            await self.app(scope, receive, response.send)
            if not response.started:
                raise RuntimeError("the ASGI app returned without starting a response")
            if not response.complete:
                await response.send({"type": "http.response.body", "body": b"", "more_body": False})
        except _Aborted:
            return False
        except (ConnectionError, asyncio.IncompleteReadError):
            if response.head_sent:
                # eddy hung up (the client left): nothing to answer, nobody to blame.
                return False
            await self._fail(invocation, response, ConnectionError("connection lost"))
            return False
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as error:  # noqa: BLE001 - any error of user code fails only its request
            await self._fail(invocation, response, error)
            return False
        finally:
            response.done.set()
        return response.keep_alive

    async def _fail(self, invocation, response, error):
        reason = invocation.fail(error)
        if response.head_sent:
            self.writer.transport.abort()
            return
        body = reason.encode("utf-8", "replace")
        head = (
            "HTTP/1.1 500 Internal Server Error\r\n%s: %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            "content-length: %d\r\nconnection: close\r\n\r\n" % (FAILURE_MARKER, FAILURE_CODE, len(body))
        )
        try:
            await self._write(head.encode() + body)
        except (ConnectionError, _Aborted):
            pass


class _Response:
    def __init__(self, connection, method, version, keep_alive):
        self.connection = connection
        self.method = method
        self.version = version
        self.keep_alive = keep_alive
        self.started = False
        self.head_sent = False
        self.complete = False
        self.chunked = False
        self.no_body = False
        self.status = 200
        self.headers = []
        self.done = asyncio.Event()

    async def send(self, message):
        kind = message.get("type")
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            self.headers = [(bytes(n), bytes(v)) for n, v in message.get("headers") or []]
            self.no_body = self.method == "HEAD" or self.status in _NO_BODY_STATUSES or self.status < 200
        elif kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                return
            body = bytes(message.get("body") or b"")
            more = bool(message.get("more_body", False))
            if not self.head_sent:
                await self._send_head(None if more else len(body))
            if self.no_body:
                pass
            elif self.chunked:
                data = (b"%x\r\n" % len(body) + body + b"\r\n") if body else b""
                if not more:
                    data += b"0\r\n\r\n"
                if data:
                    await self.connection._write(data)
            elif body:
                await self.connection._write(body)
            if not more:
                self.complete = True
                self.done.set()
        elif kind in ("http.response.trailers", "http.response.debug"):
            pass
        else:
            raise ValueError("unexpected ASGI message type %r" % (kind,))

    async def _send_head(self, known_length):
        reason = _reason(self.status)
        lines = [b"HTTP/1.1 %d %s\r\n" % (self.status, reason)]
        has_length = False
        for name, value in self.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            if lower == b"content-length":
                has_length = True
            lines.append(name + b": " + value + b"\r\n")
        if not has_length and not self.no_body:
            if known_length is not None:
                lines.append(b"content-length: %d\r\n" % known_length)
            elif self.version == "HTTP/1.1":
                self.chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        self.head_sent = True
        await self.connection._write(b"".join(lines) + b"\r\n")


def _reason(status):
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


async def start(app, lifespan):
    """Starts serving `app` on 127.0.0.1 (random port); returns the server."""

    async def on_connection(reader, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        await _Connection(app, lifespan, reader, writer).serve()

    return await asyncio.start_server(on_connection, "127.0.0.1", 0, limit=MAX_HEAD, backlog=1024)


async def wait_idle():
    while inflight() > 0:
        await asyncio.sleep(0.02)
