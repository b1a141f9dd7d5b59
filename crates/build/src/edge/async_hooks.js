// node:async_hooks for Edge functions (vercel-compat 7.1). The store follows synchronous calls
// made inside `run`; QuickJS has no async context tracking, so it is not carried across await.
export class AsyncLocalStorage {
  constructor() { this._store = undefined; this._enabled = true; }
  run(store, fn, ...args) {
    const previous = this._store;
    this._store = store;
    try {
      const result = fn(...args);
      if (result && typeof result.then === 'function') {
        return result.finally(() => { this._store = previous; });
      }
      this._store = previous;
      return result;
    } catch (e) {
      this._store = previous;
      throw e;
    }
  }
  exit(fn, ...args) { return this.run(undefined, fn, ...args); }
  getStore() { return this._enabled ? this._store : undefined; }
  enterWith(store) { this._store = store; }
  disable() { this._enabled = false; this._store = undefined; }
  static bind(fn) { return fn; }
  static snapshot() { return (fn, ...args) => fn(...args); }
}
export class AsyncResource {
  constructor(type) { this.type = type; }
  runInAsyncScope(fn, thisArg, ...args) { return fn.apply(thisArg, args); }
  bind(fn) { return fn.bind(this); }
  emitDestroy() { return this; }
  asyncId() { return 1; }
  triggerAsyncId() { return 0; }
  static bind(fn) { return fn; }
}
export default { AsyncLocalStorage, AsyncResource };
