// eddy edge prelude, part 5: the entry points the isolate's loop calls.
const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH'];
const functionName = N.functionName();
// Routing Middleware (root middleware.js|ts) is planned as the function `middleware`: it may
// also export `middleware`, and returning nothing means "continue" (x-middleware-next).
const isMiddleware = functionName === 'middleware';
const contexts = new Map();
// The abort controller of each invocation's `request.signal`.
const controllers = new Map();
function abort(inv) {
  const controller = controllers.get(inv);
  controllers.delete(inv);
  if (controller) controller.abort(new DOMException('The client disconnected', 'AbortError'));
}
const requestContext = { get: () => contexts.get(N.current()) };
Object.defineProperty(globalThis, Symbol.for('@vercel/request-context'), { value: requestContext, configurable: true });
Object.defineProperty(globalThis, Symbol.for('@next/request-context'), { value: requestContext, configurable: true });

// AsyncLocalStorage (global, as Next.js expects, and behind node:async_hooks): QuickJS tracks
// no async context, but every turn of the loop belongs to one invocation, so a store set by
// `run` is kept per invocation and survives its awaits.
class AsyncLocalStorage {
  constructor() { this[kState] = new Map(); this.enabled = true; }
  static bind(fn) { return fn; }
  static snapshot() { return (fn, ...args) => fn(...args); }
  run(store, fn, ...args) {
    const stores = this[kState];
    const key = N.current() ?? 0;
    const had = stores.has(key);
    const previous = stores.get(key);
    stores.set(key, store);
    const restore = () => { if (had) stores.set(key, previous); else stores.delete(key); };
    let result;
    try {
      result = fn(...args);
    } catch (e) {
      restore();
      throw e;
    }
    if (result && typeof result.then === 'function') {
      return Promise.resolve(result).finally(restore);
    }
    restore();
    return result;
  }
  exit(fn, ...args) { return this.run(undefined, fn, ...args); }
  getStore() { return this.enabled ? this[kState].get(N.current() ?? 0) : undefined; }
  enterWith(store) { this[kState].set(N.current() ?? 0, store); }
  disable() { this.enabled = false; this[kState].clear(); }
}
define('AsyncLocalStorage', AsyncLocalStorage);

function waitUntilPromise(p) {
  N.waitUntil(1);
  Promise.resolve(p)
    .catch((e) => console.error('waitUntil promise rejected:', e))
    .finally(() => N.waitUntil(-1));
}

function exportsOf() {
  const mod = globalThis.__eddy_edge;
  return mod && typeof mod === 'object' ? mod : {};
}

function handlerFor(method) {
  const mod = exportsOf();
  const d = mod.default;
  if (typeof d === 'function') return { handler: d };
  if (isMiddleware && typeof mod.middleware === 'function') return { handler: mod.middleware };
  if (d && typeof d.fetch === 'function') return { handler: (req, ctx) => d.fetch(req, env, ctx) };
  if (typeof mod[method] === 'function') return { handler: mod[method] };
  if (method === 'HEAD' && typeof mod.GET === 'function') return { handler: mod.GET };
  return { allow: METHODS.filter((m) => typeof mod[m] === 'function') };
}

function check() {
  const mod = exportsOf();
  const d = mod.default;
  if (typeof d === 'function' || (d && typeof d.fetch === 'function')) return null;
  if (isMiddleware && typeof mod.middleware === 'function') return null;
  if (METHODS.some((m) => typeof mod[m] === 'function')) return null;
  return `No default or HTTP-named export was found in ${functionName} (export a default function (request, ctx) => Response, or GET/POST/... functions)`;
}

function describeError(e) {
  if (e instanceof Error) return e.stack ? `${e.name}: ${e.message}\n${e.stack}` : `${e.name}: ${e.message}`;
  try { return `uncaught ${typeof e}: ${typeof e === 'object' ? JSON.stringify(e) : String(e)}`; } catch { return String(e); }
}

// Streams waiting for their client to read (see `body` in the crate): resolved by `drained`.
const drains = new Map();
const highWater = N.highWater();
function drained(inv) {
  const resolve = drains.get(inv);
  drains.delete(inv);
  if (resolve) resolve();
}

async function sendResponse(inv, response) {
  const st = response[kBody];
  const headers = flatHeaders(response.headers);
  const status = response.status || 500;
  if (!st.source) return N.respond(inv, status, headers, undefined, false);
  if (st.source.bytes && !st.source.stream) return N.respond(inv, status, headers, st.source.bytes, false);
  N.respond(inv, status, headers, undefined, true);
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const unread = N.chunk(inv, typeof value === 'string' ? N.utf8Encode(value) : toBytes(value));
      if (unread < 0) {
        abort(inv);
        await reader.cancel(new DOMException('The client disconnected', 'AbortError')).catch(() => {});
        break;
      }
      if (unread > highWater && !N.waitDrain(inv)) {
        await new Promise((resolve) => drains.set(inv, resolve));
      }
    }
    N.end(inv);
  } catch (e) {
    console.error(e);
    N.fail(inv, describeError(e));
  }
}

async function dispatch(inv, method, url, flatHeaderList, body) {
  try {
    const headers = new Headers();
    for (let i = 0; i + 1 < flatHeaderList.length; i += 2) headers.append(flatHeaderList[i], flatHeaderList[i + 1]);
    const controller = new AbortController();
    controllers.set(inv, controller);
    const request = new Request(url, { method, headers, signal: controller.signal, body: method === 'GET' || method === 'HEAD' ? undefined : body });
    const { handler, allow } = handlerFor(method);
    if (!handler) return N.respond(inv, 405, ['allow', allow.join(', ')], undefined, false);
    const ctx = { waitUntil: waitUntilPromise };
    contexts.set(inv, { waitUntil: waitUntilPromise, headers: Object.fromEntries(headers) });
    let response;
    try {
      response = await handler(request, ctx);
    } finally {
      contexts.delete(inv);
    }
    if (isMiddleware && (response === undefined || response === null)) {
      return N.respond(inv, 200, ['x-middleware-next', '1'], undefined, false);
    }
    if (!(response instanceof Response)) {
      const got = response === null ? 'null' : typeof response;
      return N.fail(inv, `the edge function ${functionName} returned ${got}, expected a Response`);
    }
    await sendResponse(inv, response);
  } catch (e) {
    console.error(e);
    N.fail(inv, describeError(e));
  } finally {
    controllers.delete(inv);
  }
}

Object.defineProperty(globalThis, '__eddy_host', {
  value: Object.freeze({ check, dispatch, timerFired, opDone, abort, drained }),
  enumerable: false,
  configurable: false,
  writable: false,
});
