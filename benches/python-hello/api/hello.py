# The handler both sides serve: through eddy, and through a bare ThreadingHTTPServer (peer.py).
# The shape of Vercel's Python docs.
from http.server import BaseHTTPRequestHandler


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")
