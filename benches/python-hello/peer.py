# The peer: the same handler class on the standard library's threaded server, no eddy in between.
from http.server import ThreadingHTTPServer

from api.hello import handler


class Server(ThreadingHTTPServer):
    # The default accept queue of 5 drops SYNs under 64 concurrent connections (~50 req/s, all
    # of it SYN retries); eddy's own Python server has 1024.
    request_queue_size = 1024


server = Server(("127.0.0.1", 0), handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
