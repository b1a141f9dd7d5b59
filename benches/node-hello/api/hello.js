// The handler both sides serve: through eddy, and through a bare node http server (peer.js).
module.exports = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello');
};
