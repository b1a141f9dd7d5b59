// The instance side of eddy's instance protocol (Vercel's Fluid IPC): JSON messages, each
// terminated by one NUL byte, written to the Unix socket named by VERCEL_IPC_PATH. Messages sent
// before the socket connects are queued (up to 1 MB, like Vercel's Python runtime).
// Also the capture of user output: console.* and process.stdout/stderr.write become `log`
// messages tagged with the invocation that wrote them.

import net from 'node:net';
import util from 'node:util';

const MAX_QUEUED_BYTES = 1 << 20;

let socket = null;
let connected = false;
let queued = [];
let queuedBytes = 0;

/** Connects to the host; resolves once connected. When the host goes away the process exits. */
export function connect(path) {
  return new Promise((resolve, reject) => {
    socket = net.createConnection(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      connected = true;
      for (const frame of queued) socket.write(frame);
      queued = [];
      queuedBytes = 0;
      // A write error shows up as 'close' right after; nothing else to do with it.
      socket.on('error', () => {});
      // Nobody is left to serve: the host (eddy) is gone.
      socket.on('close', () => process.exit(0));
      // The host sends nothing today; reading notices its end.
      socket.resume();
      resolve();
    });
  });
}

/** Sends one message, or queues it until connected. */
export function send(type, payload) {
  const frame = JSON.stringify({ type, payload }) + '\0';
  if (connected) {
    socket.write(frame);
  } else if (queuedBytes + frame.length <= MAX_QUEUED_BYTES) {
    queued.push(frame);
    queuedBytes += frame.length;
  }
}

/** Resolves once every message sent so far has been handed to the kernel. */
export function flush() {
  return new Promise((resolve) => {
    if (!connected || socket.destroyed) return resolve();
    socket.write('', () => resolve());
  });
}

/** A `log` message; `kind` is `{ level }` or `{ stream }`, `context` may be undefined. */
export function sendLog(kind, context, text) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(String(text));
  send('log', { context, message: bytes.toString('base64'), ...kind });
}

function toBuffer(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') {
    return Buffer.from(chunk, Buffer.isEncoding(encoding) ? encoding : 'utf8');
  }
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

/**
 * Routes all output through IPC. `currentContext()` returns the `{invocationId, requestId}` of
 * the invocation running in the current async context, or undefined outside any invocation.
 */
export function captureOutput(currentContext) {
  for (const name of ['stdout', 'stderr']) {
    const stream = process[name];
    stream.write = function write(chunk, encoding, callback) {
      if (typeof encoding === 'function') {
        callback = encoding;
        encoding = undefined;
      }
      sendLog({ stream: name }, currentContext(), toBuffer(chunk, encoding));
      if (typeof callback === 'function') process.nextTick(callback);
      return true;
    };
  }
  const levels = { log: 'info', info: 'info', warn: 'warn', error: 'error', debug: 'debug' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      const text = util.formatWithOptions({ colors: false }, ...args) + '\n';
      sendLog({ level }, currentContext(), text);
    };
  }
}
