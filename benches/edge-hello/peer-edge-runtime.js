// Peer: the same handler in Vercel's local Edge emulator (npm edge-runtime, a node:vm
// context), as `edge-runtime --listen` would run it. EdgeRuntime takes a script, not a
// module, so the two `export`s become plain bindings (vercel dev bundles with esbuild
// instead; kept out here so its service process does not count in the cold start).
const { readFileSync } = require('fs');
const path = require('path');
const { EdgeRuntime, runServer } = require('edge-runtime');

const source = readFileSync(path.join(__dirname, 'api/hello.js'), 'utf8')
  .replace('export const config', 'const config')
  .replace('export default', 'const handler =');
const initialCode = `${source}\naddEventListener('fetch', (event) => event.respondWith(handler(event.request)));\n`;

runServer({ runtime: new EdgeRuntime({ initialCode }), host: '127.0.0.1', port: 0 }).then((server) => {
  process.stdout.write(`listening ${new URL(server.url).port}\n`);
});
