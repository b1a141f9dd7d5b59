// eddy edge prelude, part 1: native bridge, console, timers, time, events, abort, encoding, URL.
const N = globalThis.__eddy_native;
delete globalThis.__eddy_native;
const define = (name, value) =>
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
const kState = Symbol('state');

// --- time: Date.now() and new Date() advance only when I/O completes
const RealDate = Date;
function EdgeDate(...args) {
  if (!new.target) return new RealDate(N.now()).toString();
  return args.length === 0 ? new RealDate(N.now()) : new RealDate(...args);
}
EdgeDate.prototype = RealDate.prototype;
EdgeDate.now = () => N.now();
EdgeDate.parse = RealDate.parse;
EdgeDate.UTC = RealDate.UTC;
Object.defineProperty(RealDate.prototype, 'constructor', { value: EdgeDate, writable: true, configurable: true });
define('Date', EdgeDate);

// --- console
function inspect(v, depth = 0) {
  if (typeof v === 'string') return depth ? JSON.stringify(v) : v;
  if (v instanceof Error) return v.stack ? `${v.name}: ${v.message}\n${v.stack}` : `${v.name}: ${v.message}`;
  if (typeof v === 'function') return `[Function: ${v.name || 'anonymous'}]`;
  if (typeof v === 'symbol' || typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return String(v);
  if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';
  if (Array.isArray(v)) return `[ ${v.map((x) => inspect(x, depth + 1)).join(', ')} ]`;
  if (v instanceof Map) return `Map(${v.size}) { ${[...v].map(([k, x]) => `${inspect(k, depth + 1)} => ${inspect(x, depth + 1)}`).join(', ')} }`;
  if (v instanceof Set) return `Set(${v.size}) { ${[...v].map((x) => inspect(x, depth + 1)).join(', ')} }`;
  try {
    const entries = Object.keys(v).map((k) => `${k}: ${inspect(v[k], depth + 1)}`);
    const name = v.constructor && v.constructor !== Object ? `${v.constructor.name} ` : '';
    return entries.length ? `${name}{ ${entries.join(', ')} }` : `${name}{}`;
  } catch {
    return '[Object]';
  }
}
function format(args) {
  if (typeof args[0] === 'string' && args[0].includes('%')) {
    let i = 1;
    const first = args[0].replace(/%[sdifjoO%]/g, (m) => {
      if (m === '%%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      if (m === '%d' || m === '%i') return String(parseInt(a, 10));
      if (m === '%f') return String(parseFloat(a));
      if (m === '%j') return JSON.stringify(a);
      return inspect(a, m === '%s' ? 0 : 1);
    });
    return [first, ...args.slice(i).map((a) => inspect(a))].join(' ');
  }
  return args.map((a) => inspect(a)).join(' ');
}
const counts = new Map();
const timings = new Map();
const consoleObject = {
  log: (...a) => N.log('info', format(a)),
  info: (...a) => N.log('info', format(a)),
  debug: (...a) => N.log('debug', format(a)),
  trace: (...a) => N.log('debug', format(a)),
  warn: (...a) => N.log('warn', format(a)),
  error: (...a) => N.log('error', format(a)),
  assert: (c, ...a) => { if (!c) N.log('error', 'Assertion failed' + (a.length ? ': ' + format(a) : '')); },
  dir: (v) => N.log('info', inspect(v)),
  table: (v) => N.log('info', inspect(v)),
  count: (l = 'default') => { counts.set(l, (counts.get(l) || 0) + 1); N.log('info', `${l}: ${counts.get(l)}`); },
  countReset: (l = 'default') => counts.delete(l),
  time: (l = 'default') => timings.set(l, performance.now()),
  timeEnd: (l = 'default') => { N.log('info', `${l}: ${(performance.now() - (timings.get(l) || 0)).toFixed(3)}ms`); timings.delete(l); },
  timeLog: (l = 'default') => N.log('info', `${l}: ${(performance.now() - (timings.get(l) || 0)).toFixed(3)}ms`),
  group: () => {}, groupEnd: () => {}, groupCollapsed: () => {},
};
define('console', consoleObject);

// --- timers
const timers = new Map();
let nextTimer = 0;
function startTimer(fn, ms, args, repeat) {
  const id = ++nextTimer;
  ms = Math.max(0, Number(ms) || 0);
  timers.set(id, { fn, ms, args, repeat });
  N.timer(id, ms);
  return id;
}
function clearTimer(id) {
  if (timers.delete(Number(id))) N.clearTimer(Number(id));
}
define('setTimeout', (fn, ms, ...args) => startTimer(fn, ms, args, false));
define('setInterval', (fn, ms, ...args) => startTimer(fn, ms, args, true));
define('clearTimeout', clearTimer);
define('clearInterval', clearTimer);
function timerFired(id) {
  const t = timers.get(id);
  if (!t) return;
  if (t.repeat) N.timer(id, t.ms); else timers.delete(id);
  if (typeof t.fn === 'function') t.fn(...t.args);
}
if (typeof globalThis.queueMicrotask !== 'function') {
  define('queueMicrotask', (fn) => { Promise.resolve().then(() => fn()); });
}

// --- DOMException (QuickJS has one; keep a fallback)
if (typeof globalThis.DOMException !== 'function') {
  class DOMException extends Error {
    constructor(message = '', name = 'Error') { super(message); this.name = name; }
  }
  define('DOMException', DOMException);
}

// --- Event, EventTarget
class Event {
  constructor(type, init = {}) {
    this.type = String(type);
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.composed = !!init.composed;
    this.defaultPrevented = false;
    this.timeStamp = N.now();
    this.target = null;
    this.currentTarget = null;
    this[kState] = { stop: false };
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() {}
  stopImmediatePropagation() { this[kState].stop = true; }
  composedPath() { return this.target ? [this.target] : []; }
}
class EventTarget {
  constructor() { Object.defineProperty(this, kState, { value: new Map() }); }
  addEventListener(type, listener, options = {}) {
    if (!listener) return;
    if (!this[kState]) Object.defineProperty(this, kState, { value: new Map() });
    const once = typeof options === 'object' && !!options.once;
    const list = this[kState].get(type) || [];
    if (list.some((l) => l.listener === listener)) return;
    list.push({ listener, once });
    this[kState].set(type, list);
    if (typeof options === 'object' && options.signal) {
      options.signal.addEventListener('abort', () => this.removeEventListener(type, listener));
    }
  }
  removeEventListener(type, listener) {
    const list = this[kState] && this[kState].get(type);
    if (list) this[kState].set(type, list.filter((l) => l.listener !== listener));
  }
  dispatchEvent(event) {
    event.target = this;
    event.currentTarget = this;
    const list = ((this[kState] && this[kState].get(event.type)) || []).slice();
    for (const l of list) {
      if (l.once) this.removeEventListener(event.type, l.listener);
      try {
        if (typeof l.listener === 'function') l.listener.call(this, event);
        else if (l.listener && typeof l.listener.handleEvent === 'function') l.listener.handleEvent(event);
      } catch (e) {
        console.error(e);
      }
      if (event[kState] && event[kState].stop) break;
    }
    const handler = this['on' + event.type];
    if (typeof handler === 'function') handler.call(this, event);
    return !event.defaultPrevented;
  }
}
class FetchEvent extends Event {
  constructor(type, init = {}) { super(type, init); this.request = init.request; }
  respondWith() {}
  waitUntil(p) { waitUntilPromise(p); }
}
class PromiseRejectionEvent extends Event {
  constructor(type, init = {}) { super(type, init); this.promise = init.promise; this.reason = init.reason; }
}
define('Event', Event);
define('EventTarget', EventTarget);
define('FetchEvent', FetchEvent);
define('PromiseRejectionEvent', PromiseRejectionEvent);
const globalEvents = new EventTarget();
define('addEventListener', (t, l, o) => globalEvents.addEventListener(t, l, o));
define('removeEventListener', (t, l) => globalEvents.removeEventListener(t, l));
define('dispatchEvent', (e) => globalEvents.dispatchEvent(e));

// --- AbortController, AbortSignal
class AbortSignal extends EventTarget {
  constructor(key) {
    if (key !== kState) throw new TypeError('Illegal constructor');
    super();
    this.aborted = false;
    this.reason = undefined;
    this.onabort = null;
  }
  throwIfAborted() { if (this.aborted) throw this.reason; }
  static abort(reason) {
    const s = new AbortSignal(kState);
    abortSignal(s, reason);
    return s;
  }
  static timeout(ms) {
    const s = new AbortSignal(kState);
    setTimeout(() => abortSignal(s, new DOMException('The operation timed out.', 'TimeoutError')), ms);
    return s;
  }
  static any(signals) {
    const s = new AbortSignal(kState);
    for (const other of signals) {
      if (other.aborted) { abortSignal(s, other.reason); break; }
      other.addEventListener('abort', () => abortSignal(s, other.reason), { once: true });
    }
    return s;
  }
}
function abortSignal(signal, reason) {
  if (signal.aborted) return;
  signal.aborted = true;
  signal.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
  signal.dispatchEvent(new Event('abort'));
}
class AbortController {
  constructor() { this.signal = new AbortSignal(kState); }
  abort(reason) { abortSignal(this.signal, reason); }
}
define('AbortSignal', AbortSignal);
define('AbortController', AbortController);

// --- encoding
function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof SharedArrayBuffer === 'function' && data instanceof SharedArrayBuffer) return new Uint8Array(data);
  throw new TypeError('expected an ArrayBuffer or an ArrayBufferView');
}
function concatBytes(chunks) {
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}
class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(input = '') { return N.utf8Encode(String(input)); }
  encodeInto(input, dest) {
    const bytes = N.utf8Encode(String(input));
    const n = Math.min(bytes.length, dest.length);
    dest.set(bytes.subarray(0, n));
    return { read: n === bytes.length ? String(input).length : n, written: n };
  }
}
// Bytes at the end of `bytes` that begin an incomplete UTF-8 sequence.
function incompleteTail(bytes) {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
class TextDecoder {
  constructor(label = 'utf-8', options = {}) {
    const l = String(label).toLowerCase().trim();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      throw new RangeError(`The "${label}" encoding is not supported (eddy's TextDecoder speaks utf-8)`);
    }
    this.fatal = !!options.fatal;
    this.ignoreBOM = !!options.ignoreBOM;
    this[kState] = { pending: null, started: false };
  }
  get encoding() { return 'utf-8'; }
  decode(input, options = {}) {
    const st = this[kState];
    let bytes = input === undefined ? new Uint8Array(0) : toBytes(input);
    if (st.pending) { bytes = concatBytes([st.pending, bytes]); st.pending = null; }
    if (options.stream) {
      const tail = incompleteTail(bytes);
      if (tail) { st.pending = bytes.slice(bytes.length - tail); bytes = bytes.subarray(0, bytes.length - tail); }
    }
    const text = N.utf8Decode(bytes, this.fatal, this.ignoreBOM || st.started);
    st.started = !!options.stream;
    return text;
  }
}
define('TextEncoder', TextEncoder);
define('TextDecoder', TextDecoder);
define('atob', (...a) => { if (!a.length) throw new TypeError('atob requires 1 argument'); return N.atob(String(a[0])); });
define('btoa', (s) => N.btoa(String(s)));

// --- URL, URLSearchParams
class URLSearchParams {
  constructor(init = '') {
    this[kState] = { list: [], url: null };
    if (typeof init === 'string') this[kState].list = pairsOf(N.formDecode(init));
    else if (init && typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const p = [...pair];
        if (p.length !== 2) throw new TypeError('each pair of URLSearchParams init must have two items');
        this[kState].list.push([String(p[0]), String(p[1])]);
      }
    } else if (init && typeof init === 'object') {
      for (const k of Object.keys(init)) this[kState].list.push([k, String(init[k])]);
    }
  }
  get size() { return this[kState].list.length; }
  append(k, v) { this[kState].list.push([String(k), String(v)]); this._update(); }
  delete(k, v) {
    this[kState].list = this[kState].list.filter(([a, b]) => !(a === String(k) && (v === undefined || b === String(v))));
    this._update();
  }
  get(k) { const e = this[kState].list.find(([a]) => a === String(k)); return e ? e[1] : null; }
  getAll(k) { return this[kState].list.filter(([a]) => a === String(k)).map(([, b]) => b); }
  has(k, v) { return this[kState].list.some(([a, b]) => a === String(k) && (v === undefined || b === String(v))); }
  set(k, v) {
    const list = this[kState].list;
    const i = list.findIndex(([a]) => a === String(k));
    if (i < 0) list.push([String(k), String(v)]);
    else {
      list[i][1] = String(v);
      this[kState].list = list.filter(([a], j) => j <= i || a !== String(k));
    }
    this._update();
  }
  sort() { this[kState].list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
  forEach(fn, thisArg) { for (const [k, v] of this[kState].list) fn.call(thisArg, v, k, this); }
  *entries() { for (const [k, v] of this[kState].list) yield [k, v]; }
  *keys() { for (const [k] of this[kState].list) yield k; }
  *values() { for (const [, v] of this[kState].list) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return N.formEncode(this[kState].list.flat()); }
  _update() {
    const url = this[kState].url;
    if (url) { const s = this.toString(); url[kState] = N.urlSet(url.href, 'search', s) || url[kState]; }
  }
}
Object.defineProperty(URLSearchParams.prototype, '_update', { enumerable: false });
function pairsOf(flat) {
  const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
const parseUrl = (input, base) => (base === undefined ? N.urlParse(String(input)) : N.urlParse(String(input), String(base)));
const URL_PARTS = ['href', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash', 'origin'];
class URL {
  constructor(input, base) {
    const parts = parseUrl(input, base);
    if (!parts) throw new TypeError(`Invalid URL: ${String(input)}`);
    this[kState] = parts;
  }
  static canParse(input, base) { return !!parseUrl(input, base); }
  static parse(input, base) { try { return new URL(input, base); } catch { return null; } }
  get searchParams() {
    let p = this[kSearch];
    if (!p) {
      p = new URLSearchParams(this.search);
      p[kState].url = this;
      Object.defineProperty(this, kSearch, { value: p });
    }
    return p;
  }
  toString() { return this.href; }
  toJSON() { return this.href; }
}
const kSearch = Symbol('searchParams');
URL_PARTS.forEach((name, i) => {
  const desc = { get() { return this[kState][i]; }, enumerable: true, configurable: true };
  if (name !== 'origin') {
    desc.set = function (v) {
      const next = N.urlSet(this[kState][0], name, String(v));
      if (!next) { if (name === 'href') throw new TypeError(`Invalid URL: ${v}`); return; }
      this[kState] = next;
      if (name === 'search' || name === 'href') {
        const p = this[kSearch];
        if (p) p[kState].list = pairsOf(N.formDecode(this.search));
      }
    };
  }
  Object.defineProperty(URL.prototype, name, desc);
});
define('URL', URL);
define('URLSearchParams', URLSearchParams);

// --- URLPattern (components with :name, *, (regexp) groups and ?, +, * modifiers)
const PATTERN_PARTS = ['protocol', 'username', 'password', 'hostname', 'port', 'pathname', 'search', 'hash'];
function compilePattern(pattern, part) {
  const names = [];
  let re = '';
  let i = 0;
  let anon = 0;
  const sep = part === 'pathname' ? '/' : part === 'hostname' ? '.' : '';
  const segment = sep ? `[^${sep === '.' ? '\\.' : sep}]+` : '.+';
  while (i < pattern.length) {
    const c = pattern[i];
    const start = re.length;
    if (c === '\\') { re += '\\' + pattern[i + 1]; i += 2; continue; }
    if (c === ':') {
      const m = /^:([A-Za-z_$][\w$]*)/.exec(pattern.slice(i));
      names.push(m[1]);
      i += m[0].length;
      let body = segment;
      if (pattern[i] === '(') {
        const end = pattern.indexOf(')', i);
        body = pattern.slice(i + 1, end);
        i = end + 1;
      }
      re += `(${body})`;
    } else if (c === '(') {
      const end = pattern.indexOf(')', i);
      names.push(String(anon++));
      re += `(${pattern.slice(i + 1, end)})`;
      i = end + 1;
    } else if (c === '*') {
      names.push(String(anon++));
      re += '(.*)';
      i++;
    } else if (c === '{') {
      const end = pattern.indexOf('}', i);
      const inner = compilePattern(pattern.slice(i + 1, end), part);
      names.push(...inner.names);
      re += `(?:${inner.source})`;
      i = end + 1;
    } else {
      re += c.replace(/[.+^${}|[\]\\/?]/g, '\\$&');
      i++;
      continue;
    }
    const mod = pattern[i];
    if (mod === '?' || mod === '+' || mod === '*') {
      i++;
      const esc = sep ? '\\' + sep : '';
      if (sep && re.slice(0, start).endsWith(esc)) {
        // `/:id?` makes the separator optional too
        const group = re.slice(start);
        re = re.slice(0, start - esc.length) + `(?:${esc}${group})${mod}`;
      } else {
        re += mod;
      }
    }
  }
  return { source: re, names };
}
class URLPattern {
  constructor(input = {}, baseURL) {
    let init = input;
    if (typeof input === 'string') {
      const u = new URL(input.replace(/[*:()]/g, (m) => encodeURIComponent(m)), baseURL);
      init = {};
      for (const p of PATTERN_PARTS) init[p] = decodeURIComponent(p === 'protocol' ? u.protocol.slice(0, -1) : p === 'search' ? u.search.slice(1) : p === 'hash' ? u.hash.slice(1) : u[p]);
      if (!input.includes('?')) init.search = '*';
      if (!input.includes('#')) init.hash = '*';
      if (!u.port) init.port = '*';
    }
    this[kState] = {};
    for (const p of PATTERN_PARTS) {
      const source = init[p] === undefined ? '*' : String(init[p]);
      this[p] = source;
      const compiled = compilePattern(source, p);
      this[kState][p] = { re: new RegExp(`^${compiled.source}$`, p === 'hostname' || p === 'protocol' ? 'i' : ''), names: compiled.names };
    }
  }
  exec(input, baseURL) {
    let values;
    if (typeof input === 'string' || input instanceof URL) {
      let u;
      try { u = new URL(String(input), baseURL); } catch { return null; }
      values = { protocol: u.protocol.slice(0, -1), username: u.username, password: u.password, hostname: u.hostname, port: u.port, pathname: u.pathname, search: u.search.slice(1), hash: u.hash.slice(1) };
    } else {
      values = {};
      for (const p of PATTERN_PARTS) values[p] = input[p] === undefined ? '' : String(input[p]);
    }
    const result = { inputs: [input] };
    for (const p of PATTERN_PARTS) {
      const { re, names } = this[kState][p];
      const m = re.exec(values[p]);
      if (!m) return null;
      const groups = {};
      names.forEach((n, i) => { groups[n] = m[i + 1]; });
      result[p] = { input: values[p], groups };
    }
    return result;
  }
  test(input, baseURL) { return this.exec(input, baseURL) !== null; }
}
define('URLPattern', URLPattern);
