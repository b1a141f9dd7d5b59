// Per-invocation state: the AsyncLocalStorage that knows which invocation the running code
// belongs to, the request context `@vercel/functions` and Next.js `after()` read
// (vercel-compat 1.5), and the waitUntil awaiter.

import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The store of each invocation: `{ invocationId, requestId, url, res, error, ended, context }`
 * where `context` is what user code sees through the request-context symbols.
 */
export const invocations = new AsyncLocalStorage();

/** The invocation running in the current async context, or undefined. */
export function currentInvocation() {
  return invocations.getStore();
}

/** The `context` of IPC messages for `invocation`, or undefined if the host sent no ids. */
export function ipcContext(invocation) {
  if (!invocation || invocation.invocationId === undefined) return undefined;
  return { invocationId: invocation.invocationId, requestId: invocation.requestId };
}

/** The IPC context of the current async context. */
export function currentContext() {
  return ipcContext(invocations.getStore());
}

/** `globalThis[Symbol.for('@vercel/request-context')].get()` and its Next.js twin. */
export function installRequestContext() {
  const requestContext = {
    get() {
      return invocations.getStore()?.context ?? {};
    },
  };
  globalThis[Symbol.for('@vercel/request-context')] = requestContext;
  globalThis[Symbol.for('@next/request-context')] = requestContext;
}

const pending = new Set();

/**
 * Tracks background work that must finish before the instance stops. A rejection is logged
 * (with the invocation that scheduled it) and never crashes the instance.
 */
export function waitUntil(promise) {
  const tracked = Promise.resolve(promise).then(
    () => {},
    (error) => console.error(error),
  );
  pending.add(tracked);
  tracked.then(() => pending.delete(tracked));
}

/**
 * Awaits the tracked work, then whatever it scheduled meanwhile (two batches, like Vercel's
 * awaiter), for at most `timeoutMs`.
 */
export async function settleWaitUntil(timeoutMs) {
  const batches = (async () => {
    for (let batch = 0; batch < 2; batch++) await Promise.all([...pending]);
  })();
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([batches, deadline]);
  clearTimeout(timer);
}
