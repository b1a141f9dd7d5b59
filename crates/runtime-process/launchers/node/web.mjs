// Web handlers (vercel-compat 1.2): `GET`/`POST`/... exports or `fetch`, called with a Web
// `Request` and `{ waitUntil }`; the returned `Response` is streamed back chunk by chunk.

import { Readable } from 'node:stream';
import { waitUntil } from './context.mjs';

function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

/** The Web `Request` for a Node request: absolute URL from x-forwarded-*, streamed body. */
export function toRequest(req, res) {
  const proto = first(req.headers['x-forwarded-proto']) || 'http';
  const host = first(req.headers['x-forwarded-host']) || req.headers.host || 'localhost';
  const target = req.url?.startsWith('/') ? req.url : `/${req.url ?? ''}`;
  let url;
  try {
    url = new URL(`${proto}://${host}${target}`);
  } catch {
    url = new URL(`http://localhost${target}`);
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    try {
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    } catch {
      // A header the Fetch API rejects is left out rather than failing the request.
    }
  }
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(url, {
    method: req.method,
    headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: 'half',
    signal: controller.signal,
  });
}

function isResponse(value) {
  if (value instanceof Response) return true;
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.status === 'number' &&
    typeof value.headers?.get === 'function' &&
    'body' in value
  );
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return typeof value;
}

/** Calls the handler for `req.method` (or `fetch`), 405 if there is none. */
export async function handleWeb(handlers, req, res) {
  const method = req.method ?? 'GET';
  const byMethod = HTTP_METHOD.test(method) ? handlers[method] : undefined;
  const handler = typeof byMethod === 'function' ? byMethod : handlers.fetch;
  if (typeof handler !== 'function') {
    res.statusCode = 405;
    res.end();
    return;
  }
  const request = toRequest(req, res);
  const response = await handler.call(handlers, request, { waitUntil });
  if (!isResponse(response)) {
    throw new TypeError(`the ${method} handler returned ${describe(response)} instead of a Response`);
  }
  await writeResponse(response, res);
}

const HTTP_METHOD = /^(GET|HEAD|OPTIONS|POST|PUT|DELETE|PATCH)$/;

/** Writes `response` to `res`, each body chunk as soon as it is produced. */
export async function writeResponse(response, res) {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    // set-cookie is written below, one header per cookie; the framing is Node's business.
    if (name === 'set-cookie' || name === 'transfer-encoding') continue;
    res.setHeader(name, value);
  }
  const cookies =
    typeof response.headers.getSetCookie === 'function'
      ? response.headers.getSetCookie()
      : [response.headers.get('set-cookie')].filter(Boolean);
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let closed = false;
  res.once('close', () => {
    closed = true;
    reader.cancel().catch(() => {});
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done || closed) break;
    if (!res.write(value)) await drained(res);
  }
  if (!closed) res.end();
}

/** Resolves when `res` can take more data (or is gone). */
function drained(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
