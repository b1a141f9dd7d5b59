// The handler both sides serve: through eddy's Bun runtime, and through Bun's own node:http
// server (peer.js).
module.exports = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello');
};
