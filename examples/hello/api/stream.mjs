// Streaming: each chunk reaches the client as it is written.
export default async function handler(req, res) {
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  for (let i = 1; i <= 5; i++) {
    res.write(`chunk ${i}\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
  res.end('done\n');
}
