// Vercel's request and response helpers for `(req, res)` handlers (vercel-compat 1.3):
// req.query, req.cookies, req.body; res.status(), res.send(), res.json(), res.redirect().
// Written without dependencies; the semantics follow @vercel/node's helpers.

import { createHash } from 'node:crypto';
import { parse as parseQueryString } from 'node:querystring';

/** An error the helpers answer with its status (e.g. 400 for a body that is not JSON). */
export class ApiError extends Error {
  constructor(statusCode, message) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** Answers an ApiError the way Vercel's helpers do: its status and message, nothing more. */
export function sendApiError(res, error) {
  res.statusCode = error.statusCode;
  res.statusMessage = error.message;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(error.message);
}

/** Where `addHelpers` keeps the buffered body and its content type for `req.body`. */
const BODY = Symbol('eddy.body');

/**
 * Adds the helpers to `req` and `res`. Must be called synchronously in the 'request' event
 * (before any await): the body is buffered from the first byte. Resolves once it is.
 */
export async function addHelpers(req, res) {
  const contentType = req.headers['content-type'];
  const body = contentType === undefined ? Promise.resolve(EMPTY) : bufferBody(req);
  Object.defineProperty(req, 'cookies', COOKIES);
  Object.defineProperty(req, 'query', QUERY);
  res.status = (statusCode) => {
    res.statusCode = statusCode;
    return res;
  };
  res.redirect = (statusOrUrl, url) => redirect(res, statusOrUrl, url);
  res.send = (value) => send(req, res, value);
  res.json = (value) => json(req, res, value);
  const bytes = await body;
  req[BODY] = { bytes, contentType };
  Object.defineProperty(req, 'body', REQUEST_BODY);
}

const EMPTY = Buffer.alloc(0);

/**
 * A property computed on first read, then stored; assignable like a plain property. The
 * accessors are shared by every request and read their request from `this`: a fresh pair per
 * request would give every request object a hidden class of its own, which slows down all
 * code that touches it (V8 keys the shape of an object on its accessor functions).
 */
function lazyProp(name, compute) {
  const plain = { configurable: true, enumerable: true, writable: true };
  return {
    configurable: true,
    enumerable: true,
    get() {
      const value = compute(this);
      Object.defineProperty(this, name, { ...plain, value });
      return value;
    },
    set(value) {
      Object.defineProperty(this, name, { ...plain, value });
    },
  };
}

const COOKIES = lazyProp('cookies', (req) => parseCookies(req.headers.cookie));
const QUERY = lazyProp('query', (req) => parseQuery(req.url));
const REQUEST_BODY = lazyProp('body', (req) => parseBody(req[BODY].bytes, req[BODY].contentType));

/**
 * Collects the whole request body while leaving it readable for user code: every chunk the
 * HTTP parser pushes is copied and still queued in `req`, so `req.on('data')`, pipes and async
 * iteration see the body as if nobody had looked.
 */
function bufferBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    const done = () => {
      delete req.push;
      resolve(Buffer.concat(chunks));
    };
    const push = req.push;
    req.push = function interceptedPush(chunk, encoding) {
      if (chunk === null) {
        done();
        return push.call(this, chunk, encoding);
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
      push.call(this, chunk, encoding);
      // Buffering all of it is the point: ignore backpressure so the parser keeps reading.
      return true;
    };
    req.once('close', done);
  });
}

function mediaType(contentType) {
  if (typeof contentType !== 'string') return undefined;
  return contentType.split(';')[0].trim().toLowerCase();
}

/** `req.body` by media type; no or unknown content type → undefined. */
export function parseBody(bytes, contentType) {
  switch (mediaType(contentType)) {
    case 'application/json': {
      const text = bytes.toString();
      if (!text) return {};
      try {
        return JSON.parse(text);
      } catch {
        throw new ApiError(400, 'Invalid JSON');
      }
    }
    case 'application/octet-stream':
      return bytes;
    case 'application/x-www-form-urlencoded':
      return parseQueryString(bytes.toString());
    case 'text/plain':
      return bytes.toString();
    default:
      return undefined;
  }
}

/** `req.query`: a repeated key gives an array. */
export function parseQuery(url = '/') {
  const query = {};
  let params;
  try {
    params = new URL(url, 'http://localhost').searchParams;
  } catch {
    return query;
  }
  params.forEach((value, key) => {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  });
  return query;
}

/** `req.cookies`: the Cookie header as an object; the first of repeated names wins. */
export function parseCookies(header) {
  const cookies = {};
  if (!header) return cookies;
  const text = Array.isArray(header) ? header.join(';') : String(header);
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (!name || cookies[name] !== undefined) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies[name] = decodeCookie(value);
  }
  return cookies;
}

function decodeCookie(value) {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function redirect(res, statusOrUrl, url) {
  if (typeof statusOrUrl === 'string' && url === undefined) {
    url = statusOrUrl;
    statusOrUrl = 307;
  }
  if (typeof statusOrUrl !== 'number' || typeof url !== 'string') {
    throw new Error(
      "Invalid redirect arguments. Please use a single argument URL, e.g. res.redirect('/destination') or use a status code and URL, e.g. res.redirect(307, '/destination').",
    );
  }
  res.writeHead(statusOrUrl, { Location: url }).end();
  return res;
}

function json(req, res, value) {
  if (!res.getHeader('content-type')) {
    res.setHeader('content-type', 'application/json; charset=utf-8');
  }
  return send(req, res, JSON.stringify(value));
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The content type with its charset set to `charset` (parameters sorted, like `content-type`). */
function withCharset(contentType, charset) {
  const [type, ...rest] = contentType.split(';');
  if (!type.includes('/')) return contentType;
  const params = {};
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq === -1) continue;
    let value = param.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    params[param.slice(0, eq).trim().toLowerCase()] = value;
  }
  params.charset = charset;
  const formatted = Object.keys(params)
    .sort()
    .map((key) => {
      const value = params[key];
      return `${key}=${TOKEN.test(value) ? value : `"${value.replace(/([\\"])/g, '\\$1')}"`}`;
    });
  return [type.trim().toLowerCase(), ...formatted].join('; ');
}

/** A weak ETag like the `etag` package makes: length and SHA-1 of the body. */
export function weakEtag(bytes) {
  const hash = createHash('sha1').update(bytes).digest('base64').substring(0, 27);
  return `W/"${bytes.length.toString(16)}-${hash}"`;
}

function send(req, res, value) {
  let chunk = value;
  switch (typeof chunk) {
    case 'string':
      if (!res.getHeader('content-type')) res.setHeader('content-type', 'text/html');
      break;
    case 'boolean':
    case 'number':
    case 'object':
      if (chunk === null) {
        chunk = '';
      } else if (Buffer.isBuffer(chunk)) {
        if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/octet-stream');
      } else {
        return json(req, res, chunk);
      }
      break;
  }
  if (typeof chunk === 'string') {
    const type = res.getHeader('content-type');
    if (typeof type === 'string') res.setHeader('content-type', withCharset(type, 'utf-8'));
    chunk = Buffer.from(chunk, 'utf8');
  }
  if (chunk !== undefined) {
    if (!Buffer.isBuffer(chunk)) {
      throw new Error('`body` is not a valid string, object, boolean, number, Stream, or Buffer');
    }
    res.setHeader('content-length', chunk.length);
    if (!res.getHeader('etag')) res.setHeader('etag', weakEtag(chunk));
  }
  if (res.statusCode === 204 || res.statusCode === 304) {
    res.removeHeader('Content-Type');
    res.removeHeader('Content-Length');
    res.removeHeader('Transfer-Encoding');
    chunk = undefined;
  }
  if (req.method === 'HEAD' || chunk === undefined) res.end();
  else res.end(chunk);
  return res;
}
