# Peer: the same handler as a module worker in Cloudflare's workerd. A worker's default export
# is an object with fetch(), so a two-line entry module wraps the Vercel-style handler. The
# address here is a placeholder: the bench passes `--socket-addr http=127.0.0.1:<port>`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .hello)],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "main")],
);

const hello :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = "import handler from 'api/hello.js';\nexport default { fetch: (request) => handler(request) };\n"),
    (name = "api/hello.js", esModule = embed "api/hello.js"),
  ],
  compatibilityDate = "2025-01-01",
);
