# The instance side of eddy's instance protocol (Vercel's Fluid IPC): JSON messages, each
# terminated by one NUL byte, written to the Unix socket named by VERCEL_IPC_PATH. Also the
# capture of user output: sys.stdout/sys.stderr writes (print included) and `logging` records
# become `log` messages tagged with the invocation that produced them.
#
# The current invocation lives in a ContextVar: each server thread and each asyncio task has
# its own, so concurrent requests never mix their tags.

import base64
import contextvars
import io
import json
import logging
import socket
import sys
import threading

_MAX_QUEUED_BYTES = 1 << 20

_lock = threading.Lock()
_sock = None
_queued = []
_queued_bytes = 0

# The invocation running in this thread / task: an object with `context()` (the IPC context
# dict) or None outside any request.
current = contextvars.ContextVar("eddy_invocation", default=None)

_real_stderr = sys.__stderr__


def connect(path):
    """Connects to the host and sends what was queued before."""
    global _sock, _queued, _queued_bytes
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    with _lock:
        _sock = sock
        for frame in _queued:
            _sendall(frame)
        _queued = []
        _queued_bytes = 0
    watcher = threading.Thread(target=_watch_host, name="eddy-ipc-watch", daemon=True)
    watcher.start()


def _watch_host():
    # The host sends nothing today; its end means nobody is left to serve.
    import os

    try:
        while _sock is not None and _sock.recv(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def _sendall(frame):
    try:
        _sock.sendall(frame)
    except OSError:
        pass


def send(kind, payload):
    """Sends one message (thread-safe), or queues it until connected."""
    global _queued_bytes
    frame = json.dumps({"type": kind, "payload": payload}, separators=(",", ":")).encode() + b"\0"
    with _lock:
        if _sock is not None:
            _sendall(frame)
        elif _queued_bytes + len(frame) <= _MAX_QUEUED_BYTES:
            _queued.append(frame)
            _queued_bytes += len(frame)


def current_context():
    invocation = current.get()
    return invocation.context() if invocation is not None else None


def send_log(data, context=None, stream=None, level=None):
    """A `log` message with `stream` (stdout|stderr) or `level` (debug|info|warn|error)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    payload = {"message": base64.b64encode(data).decode("ascii")}
    if context is not None:
        payload["context"] = context
    if stream is not None:
        payload["stream"] = stream
    else:
        payload["level"] = level or "info"
    send("log", payload)


class Capture(io.TextIOBase):
    """A text stream whose complete lines become `log` messages of one stream, tagged with
    the invocation of the writer. Partial lines wait (per thread and invocation) for their
    newline, a flush, or the end of the invocation."""

    def __init__(self, name):
        super().__init__()
        self.name = "<" + name + ">"
        self._stream = name
        self._pending = {}
        self._pending_lock = threading.Lock()

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "surrogateescape"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        # Code that writes to the descriptor itself (subprocess, faulthandler) reaches the
        # process's own stdout/stderr, which eddy logs too (without a request tag).
        original = sys.__stdout__ if self._stream == "stdout" else sys.__stderr__
        if original is None:
            raise io.UnsupportedOperation("captured stream has no file descriptor")
        return original.fileno()

    def _key(self):
        return (threading.get_ident(), id(current.get()))

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not " + type(text).__name__)
        if not text:
            return 0
        key = self._key()
        with self._pending_lock:
            buffered = self._pending.pop(key, "") + text
            cut = buffered.rfind("\n")
            if cut == -1:
                self._pending[key] = buffered
                return len(text)
            complete, rest = buffered[: cut + 1], buffered[cut + 1 :]
            if rest:
                self._pending[key] = rest
        send_log(complete, current_context(), stream=self._stream)
        return len(text)

    def flush(self):
        key = self._key()
        with self._pending_lock:
            buffered = self._pending.pop(key, "")
        if buffered:
            send_log(buffered, current_context(), stream=self._stream)

    def flush_all(self):
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for text in pending.values():
            send_log(text, None, stream=self._stream)

    @property
    def buffer(self):
        return _BinaryCapture(self)


class _BinaryCapture(io.RawIOBase):
    """`sys.stdout.buffer`: bytes written there are logged like text."""

    def __init__(self, text):
        super().__init__()
        self._text = text

    def writable(self):
        return True

    def write(self, data):
        self._text.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self):
        self._text.flush()


_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    # `fatal` would make eddy drain the instance: a critical record of user code is an error.
    logging.CRITICAL: "error",
}


class LogHandler(logging.Handler):
    """`logging` records (when the user configured no handler) as `log` messages with a level."""

    def emit(self, record):
        try:
            text = self.format(record) + "\n"
            level = _LEVELS.get(record.levelno)
            if level is None:
                level = "debug" if record.levelno < logging.INFO else "error"
            send_log(text, current_context(), level=level)
        except Exception:
            self.handleError(record)


def capture_output():
    """Routes print/sys.stdout/sys.stderr and unconfigured `logging` through IPC."""
    sys.stdout = Capture("stdout")
    sys.stderr = Capture("stderr")
    # Records reach eddy with their level; a user's logging.basicConfig() replaces our handler
    # (as if the root had none) and then writes to the captured stderr.
    handler = LogHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.root.addHandler(handler)
    logging.lastResort = handler
    if logging.root.level == logging.WARNING:
        logging.root.setLevel(logging.INFO)
    original = logging.basicConfig

    def basic_config(**kwargs):
        ours = logging.root.handlers == [handler]
        if ours:
            logging.root.removeHandler(handler)
        original(**kwargs)
        if not logging.root.handlers:
            logging.root.addHandler(handler)

    basic_config.__doc__ = original.__doc__
    logging.basicConfig = basic_config


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, Capture):
            stream.flush_all()


def flush_invocation_output():
    """Sends the partial lines of the current invocation (called when it ends)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, Capture):
            stream.flush()


def report(text):
    """Writes to the real stderr (read by eddy) when IPC is not available."""
    try:
        _real_stderr.write(text + "\n")
        _real_stderr.flush()
    except Exception:
        pass
