// A classic Vercel Node.js function: (req, res) with the helpers.
module.exports = (req, res) => {
  const name = req.query.name || 'world';
  res.status(200).json({ message: `Hello, ${name}!`, runtime: process.version });
};
