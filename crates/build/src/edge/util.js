// node:util for Edge functions (vercel-compat 7.1).
export function inspect(v, depth = 0) {
  if (typeof v === 'string') return depth ? `'${v}'` : v;
  if (v instanceof Error) return v.stack || `${v.name}: ${v.message}`;
  if (typeof v === 'function') return `[Function: ${v.name || 'anonymous'}]`;
  if (v === null || typeof v !== 'object') return String(v);
  if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';
  if (Array.isArray(v)) return `[ ${v.map((x) => inspect(x, depth + 1)).join(', ')} ]`;
  const entries = Object.keys(v).map((k) => `${k}: ${inspect(v[k], depth + 1)}`);
  return entries.length ? `{ ${entries.join(', ')} }` : '{}';
}
export function format(f, ...args) {
  if (typeof f !== 'string') return [f, ...args].map((a) => inspect(a)).join(' ');
  let i = 0;
  const out = f.replace(/%[sdifjoO%]/g, (m) => {
    if (m === '%%') return '%';
    if (i >= args.length) return m;
    const a = args[i++];
    if (m === '%d' || m === '%i') return String(parseInt(a, 10));
    if (m === '%f') return String(parseFloat(a));
    if (m === '%j') return JSON.stringify(a);
    return inspect(a, m === '%s' ? 0 : 1);
  });
  return [out, ...args.slice(i).map((a) => inspect(a))].join(' ');
}
export function promisify(fn) {
  return (...args) => new Promise((resolve, reject) => fn(...args, (err, value) => (err ? reject(err) : resolve(value))));
}
export function callbackify(fn) {
  return (...args) => {
    const cb = args.pop();
    fn(...args).then((v) => cb(null, v), (e) => cb(e));
  };
}
export function inherits(ctor, superCtor) {
  Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}
export function _extend(target, source) {
  if (source && typeof source === 'object') for (const k of Object.keys(source)) target[k] = source[k];
  return target;
}
export function isDeepStrictEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || !a || !b) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Map || a instanceof Set) return isDeepStrictEqual([...a], [...b]);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => isDeepStrictEqual(a[k], b[k]));
}
const tag = (v) => Object.prototype.toString.call(v);
export const types = {
  isPromise: (v) => v instanceof Promise,
  isDate: (v) => v instanceof Date,
  isRegExp: (v) => v instanceof RegExp,
  isMap: (v) => v instanceof Map,
  isSet: (v) => v instanceof Set,
  isArrayBuffer: (v) => v instanceof ArrayBuffer,
  isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
  isUint8Array: (v) => v instanceof Uint8Array,
  isAsyncFunction: (v) => tag(v) === '[object AsyncFunction]',
  isGeneratorFunction: (v) => tag(v) === '[object GeneratorFunction]',
  isNativeError: (v) => v instanceof Error,
  isBoxedPrimitive: (v) => v instanceof Number || v instanceof String || v instanceof Boolean,
};
export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;
export function deprecate(fn) { return fn; }
export function debuglog() { return () => {}; }
export default { inspect, format, promisify, callbackify, inherits, _extend, isDeepStrictEqual, types, TextEncoder, TextDecoder, deprecate, debuglog };
