# eddy's Python launcher: runs one function the way Vercel runs it (vercel-compat 3) and speaks
# the instance protocol with eddy (design section 4). Standard library only.
#
# Environment (set by eddy): VERCEL_IPC_PATH (the host's socket), EDDY_HANDLER (the entry file,
# relative to the working directory), EDDY_PYTHON_VENDOR (optional: the directory the build
# step installed the function's dependencies into).
#
# Flow: connect to the host; route print/stdout/stderr/logging through IPC; import the user's
# module by file path; pick its shape (a BaseHTTPRequestHandler subclass named `handler`, a WSGI
# app, or an ASGI app); serve HTTP on 127.0.0.1 (random port); send `server-started`. A module
# that fails to import or has no entry point is an `unrecoverable-error` (exit 1). SIGTERM: stop
# accepting, finish in-flight requests (and the ASGI lifespan shutdown), exit 0.

import time

_STARTED = time.perf_counter()

# asyncio, inspect and the ASGI server are imported only by the shapes that need them: asyncio
# alone costs a handler or WSGI function some 30 ms of cold start.

import importlib.util  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import site  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler  # noqa: E402

import eddy_invocation  # noqa: E402
import eddy_ipc  # noqa: E402
import eddy_threads  # noqa: E402

LAUNCHER_DIR = os.path.dirname(os.path.abspath(__file__))
SHUTDOWN_TIMEOUT = 30


class LoadError(Exception):
    """The function cannot start; the message says what and where."""


def init_duration():
    return round((time.perf_counter() - _STARTED) * 1000)


def fail(message):
    eddy_ipc.flush_output()
    eddy_ipc.send("unrecoverable-error", {"exitCode": 1, "message": message})
    os._exit(1)


def set_search_path(root, entry, vendor):
    """The function root, the entry's directory and the vendored dependencies come first."""
    launcher = os.path.normcase(LAUNCHER_DIR)
    sys.path[:] = [p for p in sys.path if os.path.normcase(os.path.abspath(p or ".")) != launcher]
    front = [root, os.path.dirname(entry)]
    vendors = [d for d in (vendor, os.path.join(root, "_vendor")) if d and os.path.isdir(d)]
    for directory in reversed(front + vendors):
        if directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)
    for directory in vendors:
        # Runs the .pth files some packages install (namespace packages, path hooks).
        site.addsitedir(directory)


def load(handler):
    root = os.getcwd()
    entry = os.path.normpath(os.path.join(root, handler))
    if not os.path.isfile(entry):
        raise LoadError("%s: the entry file does not exist (rebuild the project)" % handler)
    vendor = os.environ.get("EDDY_PYTHON_VENDOR") or None
    set_search_path(root, entry, vendor)
    name = handler[:-3] if handler.endswith(".py") else handler
    name = name.replace(os.sep, ".").replace("/", ".").lstrip(".") or "__eddy_function__"
    spec = importlib.util.spec_from_file_location(name, entry)
    if spec is None or spec.loader is None:
        raise LoadError("%s: cannot be loaded as a Python module" % handler)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - any failure of user code is reported
        sys.modules.pop(name, None)
        raise LoadError("%s failed to import:\n%s" % (handler, eddy_invocation.user_traceback(error)))
    return module


def required_positional(target):
    """How many positional parameters `target` requires, and whether it takes *args."""
    import inspect

    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None, False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = sum(1 for p in parameters if p.kind in positional and p.default is p.empty)
    varargs = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters)
    return required, varargs


def app_type(value):
    """'asgi' or 'wsgi' (vercel-compat 3, `detect_app_type`), with the callable to serve."""
    asgi = getattr(value, "asgi", None)
    if callable(asgi) and not isinstance(value, type):
        return "asgi", asgi
    if not callable(value):
        return None, value
    import inspect

    call = getattr(value, "__call__", None)
    is_async = inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(call)
    required, varargs = required_positional(value)
    if is_async and (required == 3 or varargs or required is None):
        return "asgi", value
    if required == 2:
        return "wsgi", value
    if is_async:
        return "asgi", value
    return None, value


def shape(module, handler):
    """Picks what serves requests: ('handler', class) | ('wsgi', app) | ('asgi', app)."""
    for name in dir(module):
        if name.lower() != "handler":
            continue
        value = getattr(module, name)
        if isinstance(value, type) and issubclass(value, BaseHTTPRequestHandler):
            return "handler", value
    for name in ("app", "application", "handler"):
        value = getattr(module, name, None)
        if value is None:
            continue
        kind, target = app_type(value)
        if kind is None:
            raise LoadError(
                "%s: could not determine the application interface of `%s` (expected a WSGI "
                "callable taking (environ, start_response), an ASGI app taking (scope, receive, "
                "send), or a BaseHTTPRequestHandler subclass named `handler`)" % (handler, name)
            )
        return kind, target
    raise LoadError(
        "%s: no entry point found (define a BaseHTTPRequestHandler subclass named `handler`, "
        "or a WSGI/ASGI app named `app` or `application`)" % handler
    )


def serve_threads(kind, target):
    handler_class = (
        eddy_threads.handler_class(target) if kind == "handler" else eddy_threads.wsgi_class(target)
    )
    server = eddy_threads.start(handler_class)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="eddy-serve", daemon=True)
    serving.start()
    eddy_ipc.send("server-started", {"initDuration": init_duration(), "httpPort": server.server_port})
    while not stop.wait(3600):
        pass
    server.shutdown()
    server.server_close()
    eddy_invocation.wait_idle(SHUTDOWN_TIMEOUT)


def launcher_module(name):
    """Imports one of the launcher's own modules by path (the launcher's directory is off
    sys.path once the user's module is loaded, so user code cannot import it by accident)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def serve_asgi(app):
    import asyncio

    eddy_asgi = launcher_module("eddy_asgi")
    lifespan = eddy_asgi.Lifespan(app)
    try:
        await lifespan.startup()
    except eddy_asgi.StartupFailed as error:
        fail("%s: ASGI lifespan startup failed: %s" % (os.environ.get("EDDY_HANDLER", ""), error))
    server = await eddy_asgi.start(app, lifespan)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    eddy_ipc.send("server-started", {"initDuration": init_duration(), "httpPort": port})
    await stop.wait()
    server.close()
    try:
        await asyncio.wait_for(eddy_asgi.wait_idle(), SHUTDOWN_TIMEOUT)
    except asyncio.TimeoutError:
        pass
    await lifespan.shutdown(SHUTDOWN_TIMEOUT)


def main():
    ipc_path = os.environ.get("VERCEL_IPC_PATH")
    if not ipc_path:
        eddy_ipc.report("eddy launcher: VERCEL_IPC_PATH is not set (the launcher runs under eddy)")
        sys.exit(1)
    try:
        eddy_ipc.connect(ipc_path)
    except OSError as error:
        eddy_ipc.report("eddy launcher: cannot connect to %s: %s" % (ipc_path, error))
        sys.exit(1)
    eddy_ipc.capture_output()
    handler = os.environ.get("EDDY_HANDLER", "")
    try:
        kind, target = shape(load(handler), handler)
    except LoadError as error:
        fail(str(error))
    if kind == "asgi":
        import asyncio

        asyncio.run(serve_asgi(target))
    else:
        serve_threads(kind, target)
    eddy_ipc.flush_output()


if __name__ == "__main__":
    main()
