// eddy edge prelude, part 4: crypto, structuredClone, process, performance, EdgeRuntime.
class CryptoKey {
  constructor(key) {
    if (key !== kState) throw new TypeError('Illegal constructor');
  }
}
function hashName(h) {
  const name = typeof h === 'string' ? h : h && h.name;
  if (!name) throw new TypeError('a hash algorithm is required (e.g. SHA-256)');
  return String(name).toUpperCase();
}
function makeKey(raw, algorithm, extractable, usages) {
  const key = new CryptoKey(kState);
  Object.defineProperties(key, {
    type: { value: 'secret', enumerable: true },
    extractable: { value: !!extractable, enumerable: true },
    algorithm: { value: algorithm, enumerable: true },
    usages: { value: [...usages], enumerable: true },
    [kState]: { value: raw },
  });
  return key;
}
function notSupported(what) {
  return new DOMException(`${what} is not supported by eddy's edge runtime (supported: digest, HMAC)`, 'NotSupportedError');
}
class SubtleCrypto {
  constructor(key) { if (key !== kState) throw new TypeError('Illegal constructor'); }
  async digest(algorithm, data) { return N.digest(hashName(algorithm), toBytes(data)); }
  async importKey(format, keyData, algorithm, extractable, usages) {
    const name = String(algorithm.name || algorithm).toUpperCase();
    if (name !== 'HMAC') throw notSupported(`importKey for ${name}`);
    let raw;
    if (format === 'raw') raw = toBytes(keyData).slice();
    else if (format === 'jwk') raw = N.utf8Encode(N.atob(keyData.k.replace(/-/g, '+').replace(/_/g, '/')));
    else throw notSupported(`key format ${format}`);
    if (format === 'jwk') raw = Uint8Array.from(N.atob(keyData.k.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const hash = { name: hashName(algorithm.hash) };
    return makeKey(raw, { name: 'HMAC', hash, length: raw.length * 8 }, extractable, usages);
  }
  async generateKey(algorithm, extractable, usages) {
    const name = String(algorithm.name).toUpperCase();
    if (name !== 'HMAC') throw notSupported(`generateKey for ${name}`);
    const hash = hashName(algorithm.hash);
    const length = algorithm.length || (hash === 'SHA-384' || hash === 'SHA-512' ? 1024 : 512);
    return makeKey(N.randomBytes(length / 8), { name: 'HMAC', hash: { name: hash }, length }, extractable, usages);
  }
  async exportKey(format, key) {
    if (!key.extractable) throw new DOMException('the key is not extractable', 'InvalidAccessError');
    if (format === 'raw') return key[kState].slice().buffer;
    if (format === 'jwk') {
      const k = N.btoa(String.fromCharCode(...key[kState])).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      return { kty: 'oct', k, alg: 'HS' + key.algorithm.hash.name.slice(4), ext: true, key_ops: key.usages };
    }
    throw notSupported(`key format ${format}`);
  }
  async sign(algorithm, key, data) {
    const name = String(algorithm.name || algorithm).toUpperCase();
    if (name !== 'HMAC' || key.algorithm.name !== 'HMAC') throw notSupported(`sign with ${name}`);
    if (!key.usages.includes('sign')) throw new DOMException('the key may not be used to sign', 'InvalidAccessError');
    return N.hmac(key.algorithm.hash.name, key[kState], toBytes(data));
  }
  async verify(algorithm, key, signature, data) {
    const name = String(algorithm.name || algorithm).toUpperCase();
    if (name !== 'HMAC' || key.algorithm.name !== 'HMAC') throw notSupported(`verify with ${name}`);
    if (!key.usages.includes('verify')) throw new DOMException('the key may not be used to verify', 'InvalidAccessError');
    const expected = new Uint8Array(N.hmac(key.algorithm.hash.name, key[kState], toBytes(data)));
    const got = toBytes(signature);
    if (got.length !== expected.length) return false;
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff |= got[i] ^ expected[i];
    return diff === 0;
  }
  async encrypt() { throw notSupported('encrypt'); }
  async decrypt() { throw notSupported('decrypt'); }
  async deriveBits() { throw notSupported('deriveBits'); }
  async deriveKey() { throw notSupported('deriveKey'); }
  async wrapKey() { throw notSupported('wrapKey'); }
  async unwrapKey() { throw notSupported('unwrapKey'); }
}
class Crypto {
  constructor(key) {
    if (key !== kState) throw new TypeError('Illegal constructor');
    this.subtle = new SubtleCrypto(kState);
  }
  getRandomValues(array) {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array) {
      throw new DOMException('getRandomValues takes an integer typed array', 'TypeMismatchError');
    }
    if (array.byteLength > 65536) throw new DOMException('getRandomValues takes at most 65536 bytes', 'QuotaExceededError');
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(N.randomBytes(array.byteLength));
    return array;
  }
  randomUUID() { return N.uuid(); }
}
Object.defineProperty(globalThis, 'crypto', { value: new Crypto(kState), enumerable: true, configurable: true, writable: true });
define('Crypto', Crypto);
define('CryptoKey', CryptoKey);
define('SubtleCrypto', SubtleCrypto);

// --- structuredClone
function cloneValue(v, seen) {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function' || typeof v === 'symbol') throw new DOMException(`${String(v)} could not be cloned.`, 'DataCloneError');
    return v;
  }
  if (seen.has(v)) return seen.get(v);
  let out;
  if (v instanceof RealDate) out = new RealDate(v.getTime());
  else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
  else if (v instanceof ArrayBuffer) out = v.slice(0);
  else if (ArrayBuffer.isView(v)) {
    const buffer = cloneValue(v.buffer, seen);
    out = v instanceof DataView ? new DataView(buffer, v.byteOffset, v.byteLength) : new v.constructor(buffer, v.byteOffset, v.length);
  } else if (v instanceof Map) { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(cloneValue(k, seen), cloneValue(x, seen)); return out; }
  else if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(cloneValue(x, seen)); return out; }
  else if (v instanceof Error) { out = new (globalThis[v.name] || Error)(v.message); if (v.stack) out.stack = v.stack; }
  else if (v instanceof Blob) out = v.slice(0, v.size, v.type);
  else if (v instanceof Boolean || v instanceof Number || v instanceof String) out = Object(v.valueOf());
  else if (Array.isArray(v)) { out = new Array(v.length); seen.set(v, out); for (let i = 0; i < v.length; i++) if (i in v) out[i] = cloneValue(v[i], seen); return out; }
  else if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet || v instanceof ReadableStream) throw new DOMException(`${Object.prototype.toString.call(v)} could not be cloned.`, 'DataCloneError');
  else { out = {}; seen.set(v, out); for (const k of Object.keys(v)) out[k] = cloneValue(v[k], seen); return out; }
  seen.set(v, out);
  return out;
}
define('structuredClone', (value) => cloneValue(value, new Map()));

// --- process, performance, self, EdgeRuntime
const env = N.env();
define('process', { env, nextTick: (fn, ...args) => queueMicrotask(() => fn(...args)), version: '', versions: {}, platform: 'edge' });
define('EdgeRuntime', 'edge-runtime');
define('self', globalThis);
if (typeof globalThis.performance !== 'object') {
  const origin = N.now();
  define('performance', { now: () => N.now() - origin, timeOrigin: origin });
}
