// eddy's Node.js launcher: runs one function the way Vercel runs it (vercel-compat 1.2-1.5)
// and speaks the instance protocol with eddy (design section 4).
//
// Environment (set by eddy): VERCEL_IPC_PATH (the host's socket), EDDY_HANDLER (the entry file,
// relative to the working directory), EDDY_OPTIONS (JSON: shouldAddHelpers, useWebApi,
// awsLambdaHandler), EDDY_WAIT_UNTIL_TIMEOUT_MS (how long SIGTERM waits for waitUntil work).
//
// Flow: connect to the host; route all output through IPC; install the request context; import
// the user's module; serve HTTP on 127.0.0.1 (random port); send `server-started`. Per request:
// strip the x-vercel-internal-* headers, run the handler inside the invocation's
// AsyncLocalStorage context, send `end` once the response is over. An error of user code fails
// only its own invocation (500 with a marker eddy turns into FUNCTION_INVOCATION_FAILED) and is
// reported in `end`; the process keeps running and eddy drains it.

import http from 'node:http';
import util from 'node:util';
import { performance } from 'node:perf_hooks';
import { connect, send, sendLog, flush, captureOutput } from './ipc.mjs';
import {
  invocations,
  currentInvocation,
  currentContext,
  ipcContext,
  installRequestContext,
  waitUntil,
  settleWaitUntil,
} from './context.mjs';
import { load, LoadError, captureListen, restoreListen, listen } from './load.mjs';
import { addHelpers, ApiError, sendApiError } from './helpers.mjs';
import { handleWeb } from './web.mjs';

const INTERNAL_PREFIX = 'x-vercel-internal-';
/** Header of the 500 the launcher sends when user code threw before responding. */
const FAILURE_MARKER = 'x-eddy-error';

const handlerPath = process.env.EDDY_HANDLER ?? '';
const options = parseOptions(process.env.EDDY_OPTIONS);
const waitUntilTimeoutMs = parseMillis(process.env.EDDY_WAIT_UNTIL_TIMEOUT_MS, 30000);

let shape = null;
let server = null;
let inflight = 0;
let idleWaiters = [];
let stopping = false;

function parseMillis(text, fallback) {
  const value = text === undefined || text.trim() === '' ? NaN : Number(text);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

function parseOptions(text) {
  try {
    const parsed = JSON.parse(text ?? '{}');
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Where Bun's syntax errors (BuildMessage, which has no stack) point: `position` names the
 * file, line and source text. Empty for anything else.
 */
function describePosition(error) {
  const at = error.position;
  if (!at || typeof at.file !== 'string' || typeof at.line !== 'number') return '';
  const text = typeof at.lineText === 'string' ? `\n${at.lineText}` : '';
  return `\n    at ${at.file}:${at.line}:${at.column ?? 0}${text}`;
}

/** The stack of an Error, else an inspection of the thrown value; never throws. */
function describeError(error) {
  try {
    if (error instanceof Error) {
      return error.stack ?? `${error.name}: ${error.message}${describePosition(error)}`;
    }
    return `Uncaught ${typeof error === 'string' ? error : util.inspect(error)}`;
  } catch {
    return 'Uncaught error (it could not be printed)';
  }
}

function firstLine(error) {
  try {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : describeError(error);
    return text.split('\n')[0];
  } catch {
    return 'Uncaught error';
  }
}

function errorMessage(error) {
  try {
    return error instanceof Error ? String(error.message) : describeError(error);
  } catch {
    return 'Uncaught error';
  }
}

// ---- per request -------------------------------------------------------------------------

function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Replaces every `name` header (lowercase) in `req` by `value`, or removes it. */
function setRequestHeader(req, name, value) {
  const raw = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() !== name) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  if (value === undefined) {
    delete req.headers[name];
    delete req.headersDistinct[name];
  } else {
    raw.push(name, value);
    req.headers[name] = value;
    req.headersDistinct[name] = [value];
  }
  req.rawHeaders = raw;
}

/**
 * The lowercase names in `req.rawHeaders` that `takeInternalHeaders` edits: the platform's
 * headers, and whether x-forwarded-host is there. One pass over the raw list, without making
 * Node build the header objects.
 */
function scanHeaders(req) {
  const raw = req.rawHeaders;
  let internal = null;
  let forwarded = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    // Every name of interest starts with `x`: skip the rest without lowercasing them.
    if ((name.charCodeAt(0) | 0x20) !== 0x78) continue;
    const lower = name.toLowerCase();
    if (lower.startsWith(INTERNAL_PREFIX)) (internal ??= new Set()).add(lower);
    else if (lower === 'x-forwarded-host') forwarded = true;
  }
  return { internal, forwarded };
}

/** Reads and removes the platform's headers; re-sets `host` from x-forwarded-host. */
function takeInternalHeaders(req) {
  const internal = {};
  const found = scanHeaders(req);
  if (found.internal === null && !found.forwarded) return internal;
  // Node derives both objects lazily from rawHeaders: materialise them before editing.
  const { headers } = req;
  const distinct = req.headersDistinct;
  if (found.internal !== null) {
    for (const name of found.internal) {
      internal[name.slice(INTERNAL_PREFIX.length)] = header(req, name);
      delete headers[name];
      delete distinct[name];
    }
    const raw = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (!found.internal.has(req.rawHeaders[i].toLowerCase())) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    req.rawHeaders = raw;
  }
  if (internal['oidc-token'] && headers['x-vercel-oidc-token'] === undefined) {
    setRequestHeader(req, 'x-vercel-oidc-token', internal['oidc-token']);
  }
  const forwardedHost = header(req, 'x-forwarded-host');
  if (forwardedHost) setRequestHeader(req, 'host', forwardedHost);
  return internal;
}

function beginInvocation(req, res) {
  const internal = takeInternalHeaders(req);
  const requestId = internal['request-id'] === undefined ? undefined : Number(internal['request-id']);
  const invocation = {
    invocationId: internal['invocation-id'],
    requestId: Number.isFinite(requestId) ? requestId : internal['request-id'],
    url: req.url,
    res,
    error: null,
    ended: false,
    context: { waitUntil, headers: { ...req.headers } },
  };
  inflight++;
  res.once('close', () => endInvocation(invocation));
  res.on('error', (error) => {
    sendLog({ level: 'error' }, ipcContext(invocation), `Error writing the response of ${invocation.url}: ${describeError(error)}`);
  });
  return invocation;
}

function endInvocation(invocation) {
  if (invocation.ended) return;
  invocation.ended = true;
  inflight--;
  const context = ipcContext(invocation);
  if (context) send('end', { context, error: invocation.error });
  if (inflight === 0) {
    for (const resolve of idleWaiters) resolve();
    idleWaiters = [];
  }
}

/** An error of user code in `invocation`: log it, fail the invocation, report it in `end`. */
function failInvocation(invocation, error) {
  const { res } = invocation;
  if (error instanceof ApiError && !res.headersSent) {
    sendApiError(res, error);
    return;
  }
  const report = `Error from API Route ${invocation.url}: ${describeError(error)}`;
  if (invocation.ended) {
    // Its `end` is gone already: a fatal log is how eddy learns it must drain this instance.
    sendLog({ level: 'fatal' }, ipcContext(invocation), report);
    return;
  }
  sendLog({ level: 'error' }, ipcContext(invocation), report);
  invocation.error ??= {
    message: errorMessage(error),
    stack: describeError(error),
  };
  if (!res.headersSent) {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = 500;
    res.setHeader(FAILURE_MARKER, 'FUNCTION_INVOCATION_FAILED');
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(firstLine(error));
  } else if (!res.writableEnded) {
    // Half a response is out: breaking the connection is the only honest way to fail it.
    res.destroy();
  }
}

async function runListener(req, res) {
  if (shape.helpers) await addHelpers(req, res);
  return shape.listener(req, res);
}

function dispatch(invocation, req, res) {
  let result;
  try {
    if (shape.kind === 'web') result = handleWeb(shape.handlers, req, res);
    else if (shape.kind === 'listener') result = runListener(req, res);
    else shape.server.emit('request', req, res);
  } catch (error) {
    failInvocation(invocation, error);
    return;
  }
  if (result && typeof result.then === 'function') {
    result.then(undefined, (error) => failInvocation(invocation, error));
  }
}

function onRequest(req, res) {
  if (req.method === 'GET' && req.url === '/_vercel/ping') {
    res.statusCode = 200;
    res.end('OK');
    return;
  }
  const invocation = beginInvocation(req, res);
  invocations.run(invocation, () => dispatch(invocation, req, res));
}

// ---- process-wide ------------------------------------------------------------------------

function onUncaught(error) {
  const invocation = currentInvocation();
  if (invocation) {
    failInvocation(invocation, error);
  } else {
    sendLog({ level: 'fatal' }, undefined, `Uncaught error: ${describeError(error)}`);
  }
}

function idle() {
  if (inflight === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

/** SIGTERM: stop accepting, finish in-flight responses, then waitUntil work; exit 0. */
async function stop() {
  if (stopping) return;
  stopping = true;
  server?.close();
  await idle();
  await settleWaitUntil(waitUntilTimeoutMs);
  await flush();
  process.exit(0);
}

async function fail(message, error) {
  send('unrecoverable-error', { exitCode: 1, message });
  await flush();
  // Bun's own report of a rethrown error points into this launcher, not at the user's file
  // (the message sent above names it): exit without it.
  if (error === undefined || process.versions.bun !== undefined) process.exit(1);
  // Node's own report of an uncaught error names the file and line of a syntax error, which
  // the error's stack lacks for ES modules: let Node print it (to stderr, read by eddy) and exit 1.
  setImmediate(() => {
    throw error;
  });
}

async function main() {
  const ipcPath = process.env.VERCEL_IPC_PATH;
  if (!ipcPath) {
    process.stderr.write('eddy launcher: VERCEL_IPC_PATH is not set (the launcher runs under eddy)\n');
    process.exit(1);
  }
  try {
    await connect(ipcPath);
  } catch (error) {
    process.stderr.write(`eddy launcher: cannot connect to ${ipcPath}: ${describeError(error)}\n`);
    process.exit(1);
  }
  captureOutput(currentContext);
  installRequestContext();
  captureListen();
  try {
    shape = await load(handlerPath, options);
  } catch (error) {
    if (error instanceof LoadError) return fail(error.message);
    return fail(describeError(error), error);
  } finally {
    restoreListen();
  }
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  process.on('SIGTERM', () => void stop());

  server = http.createServer(
    {
      keepAlive: true,
      noDelay: true,
      requestTimeout: 0,
      headersTimeout: 600_000,
      keepAliveTimeout: 600_000,
      maxHeaderSize: 64 * 1024,
    },
    onRequest,
  );
  server.timeout = 0;
  server.on('error', (error) => fail(`the launcher's HTTP server failed: ${describeError(error)}`));
  listen(server, 0, '127.0.0.1', () => {
    send('server-started', {
      initDuration: Math.round(performance.now()),
      httpPort: server.address().port,
    });
  });
}

main().catch((error) => fail(`eddy launcher failed: ${describeError(error)}`));
