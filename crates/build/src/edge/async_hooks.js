// node:async_hooks for Edge functions (vercel-compat 7.1). AsyncLocalStorage is the edge
// runtime's global one: a store set by `run` is kept per invocation and survives its awaits.
export const AsyncLocalStorage =
  globalThis.AsyncLocalStorage ||
  class AsyncLocalStorage {
    constructor() { this._store = undefined; }
    run(store, fn, ...args) {
      const previous = this._store;
      this._store = store;
      try { return fn(...args); } finally { this._store = previous; }
    }
    exit(fn, ...args) { return this.run(undefined, fn, ...args); }
    getStore() { return this._store; }
    enterWith(store) { this._store = store; }
    disable() { this._store = undefined; }
  };
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
