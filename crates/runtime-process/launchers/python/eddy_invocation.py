# One request to the function, as both servers (threads, asyncio) handle it: the platform's
# x-vercel-internal-* headers read and stripped, the invocation made current for output tagging,
# `end` sent once the response is over, an error of user code reported and logged, and a count
# of invocations in flight so SIGTERM can wait for them.

import os
import threading
import traceback

import eddy_ipc

INTERNAL_PREFIX = "x-vercel-internal-"
# Header of the 500 the launcher sends when user code raised before responding; eddy strips it
# and renders Vercel's FUNCTION_INVOCATION_FAILED page.
FAILURE_MARKER = "x-eddy-error"
FAILURE_CODE = "FUNCTION_INVOCATION_FAILED"
PING_PATH = "/_vercel/ping"
LAUNCHER_DIR = os.path.dirname(os.path.abspath(__file__))

_idle = threading.Condition()
_inflight = 0


def take_internal(headers):
    """Splits (name, value) pairs of str into the platform's (lowercase name without prefix ->
    value) and the rest, in order."""
    internal = {}
    rest = []
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(INTERNAL_PREFIX):
            internal.setdefault(lower[len(INTERNAL_PREFIX) :], value)
        else:
            rest.append((name, value))
    token = internal.get("oidc-token")
    if token and not any(n.lower() == "x-vercel-oidc-token" for n, _ in rest):
        rest.append(("x-vercel-oidc-token", token))
    return internal, rest


class Invocation:
    def __init__(self, internal, url):
        self.invocation_id = internal.get("invocation-id")
        request_id = internal.get("request-id")
        try:
            self.request_id = int(request_id) if request_id is not None else None
        except ValueError:
            self.request_id = request_id
        self.url = url
        self.error = None
        self.ended = False
        self._token = None

    def context(self):
        if self.invocation_id is None:
            return None
        return {"invocationId": self.invocation_id, "requestId": self.request_id}

    def begin(self):
        """Counts the invocation in flight and makes it current in this thread / task."""
        global _inflight
        with _idle:
            _inflight += 1
        self._token = eddy_ipc.current.set(self)

    def fail(self, error):
        """Logs an error of user code and records it for `end`; returns the first line for the
        failure response."""
        stack = user_traceback(error) + "\n"
        eddy_ipc.send_log(
            "Error from API Route " + self.url + ": " + stack,
            self.context(),
            level="error",
        )
        if self.error is None:
            self.error = {"message": _message(error), "stack": stack}
        return first_line(error)

    def end(self):
        """Sends `end` once; the invocation stops being current and in flight."""
        global _inflight
        if self.ended:
            return
        self.ended = True
        eddy_ipc.flush_invocation_output()
        context = self.context()
        if context is not None:
            eddy_ipc.send("end", {"context": context, "error": self.error})
        if self._token is not None:
            try:
                eddy_ipc.current.reset(self._token)
            except ValueError:
                # Ended from another context (an asyncio callback): nothing to restore there.
                pass
            self._token = None
        with _idle:
            _inflight -= 1
            if _inflight == 0:
                _idle.notify_all()


def user_traceback(error):
    """The traceback of `error` without the frames of importlib and of this launcher."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<frozen")
        and os.path.dirname(os.path.abspath(frame.filename)) != LAUNCHER_DIR
    ]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(error), error))
    return "".join(lines).rstrip("\n")


def wait_idle(timeout=None):
    """Blocks until no invocation is in flight (or `timeout` seconds passed)."""
    with _idle:
        return _idle.wait_for(lambda: _inflight == 0, timeout)


def inflight():
    with _idle:
        return _inflight


def _message(error):
    try:
        return str(error) or type(error).__name__
    except Exception:
        return type(error).__name__


def first_line(error):
    try:
        text = traceback.format_exception_only(type(error), error)[-1].strip()
    except Exception:
        text = type(error).__name__
    return text.splitlines()[0] if text else "Uncaught exception"


def failure_body(reason):
    return reason.encode("utf-8", "replace")
