// The peer: the same handler on Bun running node's http server API, no eddy in between.
const http = require('http');
const handler = require('./api/hello.js');
const server = http.createServer(handler);
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
