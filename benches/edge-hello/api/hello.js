// The handler all three serve: eddy (QuickJS isolates), Vercel's edge-runtime emulator
// (peer-edge-runtime.js) and Cloudflare's workerd (peer.capnp).
export const config = { runtime: 'edge' };
export default () => new Response('hello');
