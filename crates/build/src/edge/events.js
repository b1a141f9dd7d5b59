// node:events for Edge functions (vercel-compat 7.1).
export class EventEmitter {
  constructor() { this._events = new Map(); this._max = EventEmitter.defaultMaxListeners; }
  _list(name) { if (!this._events) this._events = new Map(); let l = this._events.get(name); if (!l) { l = []; this._events.set(name, l); } return l; }
  on(name, fn) { this.emit('newListener', name, fn); this._list(name).push({ fn, once: false }); return this; }
  addListener(name, fn) { return this.on(name, fn); }
  prependListener(name, fn) { this._list(name).unshift({ fn, once: false }); return this; }
  once(name, fn) { this._list(name).push({ fn, once: true }); return this; }
  prependOnceListener(name, fn) { this._list(name).unshift({ fn, once: true }); return this; }
  off(name, fn) { const l = this._list(name); const i = l.findIndex((e) => e.fn === fn); if (i >= 0) l.splice(i, 1); return this; }
  removeListener(name, fn) { return this.off(name, fn); }
  removeAllListeners(name) { if (name === undefined) this._events = new Map(); else this._events.delete(name); return this; }
  emit(name, ...args) {
    const l = this._events && this._events.get(name);
    if (!l || !l.length) {
      if (name === 'error') throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error. (${args[0]})`);
      return false;
    }
    for (const e of l.slice()) { if (e.once) this.off(name, e.fn); e.fn.apply(this, args); }
    return true;
  }
  listenerCount(name) { return (this._events && this._events.get(name) || []).length; }
  listeners(name) { return (this._events && this._events.get(name) || []).map((e) => e.fn); }
  rawListeners(name) { return this.listeners(name); }
  eventNames() { return this._events ? [...this._events.keys()].filter((k) => this._events.get(k).length) : []; }
  setMaxListeners(n) { this._max = n; return this; }
  getMaxListeners() { return this._max; }
}
EventEmitter.defaultMaxListeners = 10;
EventEmitter.EventEmitter = EventEmitter;
export function once(emitter, name) {
  return new Promise((resolve, reject) => {
    const onError = (e) => { emitter.off('error', onError); reject(e); };
    emitter.once(name, (...args) => { if (name !== 'error') emitter.off('error', onError); resolve(args); });
    if (name !== 'error') emitter.once('error', onError);
  });
}
export async function* on(emitter, name) {
  const queue = [];
  let wake = null;
  emitter.on(name, (...args) => { queue.push(args); if (wake) { wake(); wake = null; } });
  for (;;) {
    while (queue.length) yield queue.shift();
    await new Promise((r) => { wake = r; });
  }
}
EventEmitter.once = once;
EventEmitter.on = on;
export const defaultMaxListeners = 10;
export default EventEmitter;
