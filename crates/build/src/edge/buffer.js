// node:buffer for Edge functions (vercel-compat 7.1): Buffer as a Uint8Array subclass.
const ENCODINGS = ['utf8', 'utf-8', 'hex', 'base64', 'base64url', 'latin1', 'binary', 'ascii', 'ucs2', 'utf16le'];
function norm(encoding) {
  const e = String(encoding || 'utf8').toLowerCase();
  if (!ENCODINGS.includes(e)) throw new TypeError(`Unknown encoding: ${encoding}`);
  return e === 'utf-8' ? 'utf8' : e === 'binary' ? 'latin1' : e === 'ucs2' ? 'utf16le' : e;
}
function fromString(s, encoding) {
  switch (norm(encoding)) {
    case 'hex': {
      const out = new Uint8Array(Math.floor(s.length / 2));
      for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
      return out;
    }
    case 'base64':
    case 'base64url': {
      const b = atob(s.replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '').padEnd(Math.ceil(s.length / 4) * 4, '='));
      return Uint8Array.from(b, (c) => c.charCodeAt(0));
    }
    case 'latin1':
    case 'ascii':
      return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
    case 'utf16le': {
      const out = new Uint8Array(s.length * 2);
      for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); out[i * 2] = c & 0xff; out[i * 2 + 1] = c >> 8; }
      return out;
    }
    default:
      return new TextEncoder().encode(s);
  }
}
export class Buffer extends Uint8Array {
  static from(value, encodingOrOffset, length) {
    if (typeof value === 'string') return toBuffer(fromString(value, encodingOrOffset));
    if (value instanceof ArrayBuffer) return new Buffer(value, encodingOrOffset || 0, length === undefined ? value.byteLength - (encodingOrOffset || 0) : length);
    if (ArrayBuffer.isView(value)) return toBuffer(new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice());
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) return toBuffer(Uint8Array.from(value.data));
    if (value && typeof value.length === 'number') return toBuffer(Uint8Array.from(value));
    throw new TypeError('The first argument must be a string, Buffer, ArrayBuffer, Array, or array-like object.');
  }
  static alloc(size, fill, encoding) {
    const b = new Buffer(size);
    if (fill !== undefined) b.fill(typeof fill === 'string' ? fromString(fill, encoding)[0] : fill);
    return b;
  }
  static allocUnsafe(size) { return new Buffer(size); }
  static allocUnsafeSlow(size) { return new Buffer(size); }
  static isBuffer(b) { return b instanceof Buffer; }
  static isEncoding(e) { return ENCODINGS.includes(String(e).toLowerCase()); }
  static byteLength(s, encoding) { return typeof s === 'string' ? fromString(s, encoding).length : s.byteLength; }
  static concat(list, total) {
    const size = total === undefined ? list.reduce((n, b) => n + b.length, 0) : total;
    const out = Buffer.alloc(size);
    let at = 0;
    for (const b of list) { if (at >= size) break; out.set(b.subarray(0, size - at), at); at += b.length; }
    return out;
  }
  static compare(a, b) { return a.compare(b); }
  toString(encoding, start = 0, end = this.length) {
    const bytes = this.subarray(start, end);
    switch (norm(encoding)) {
      case 'hex': return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
      case 'base64': return btoa(latin1(bytes));
      case 'base64url': return btoa(latin1(bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      case 'latin1': return latin1(bytes);
      case 'ascii': return latin1(bytes.map((b) => b & 0x7f));
      case 'utf16le': { let s = ''; for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8)); return s; }
      default: return new TextDecoder().decode(bytes);
    }
  }
  toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
  equals(other) { return this.length === other.length && this.every((b, i) => b === other[i]); }
  compare(other) {
    for (let i = 0; i < Math.min(this.length, other.length); i++) if (this[i] !== other[i]) return this[i] < other[i] ? -1 : 1;
    return this.length === other.length ? 0 : this.length < other.length ? -1 : 1;
  }
  write(string, offset = 0, length, encoding) {
    if (typeof offset === 'string') { encoding = offset; offset = 0; }
    const bytes = fromString(string, encoding).subarray(0, length === undefined ? undefined : length);
    const n = Math.min(bytes.length, this.length - offset);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }
  slice(start, end) { return this.subarray(start, end); }
  subarray(start, end) { const v = super.subarray(start, end); return new Buffer(v.buffer, v.byteOffset, v.length); }
  copy(target, targetStart = 0, start = 0, end = this.length) {
    const part = this.subarray(start, Math.min(end, start + target.length - targetStart));
    target.set(part, targetStart);
    return part.length;
  }
  readUInt8(o = 0) { return this[o]; }
  readUInt16BE(o = 0) { return (this[o] << 8) | this[o + 1]; }
  readUInt32BE(o = 0) { return new DataView(this.buffer, this.byteOffset).getUint32(o); }
  readInt32BE(o = 0) { return new DataView(this.buffer, this.byteOffset).getInt32(o); }
  writeUInt8(v, o = 0) { this[o] = v; return o + 1; }
  writeUInt32BE(v, o = 0) { new DataView(this.buffer, this.byteOffset).setUint32(o, v); return o + 4; }
}
function toBuffer(u8) { return new Buffer(u8.buffer, u8.byteOffset, u8.length); }
function latin1(bytes) { let s = ''; for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192)); return s; }
export const SlowBuffer = Buffer;
export const kMaxLength = 2 ** 31 - 1;
export const kStringMaxLength = 2 ** 29 - 24;
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: kStringMaxLength };
export const Blob = globalThis.Blob;
export const File = globalThis.File;
export const atob = globalThis.atob;
export const btoa = globalThis.btoa;
export default { Buffer, SlowBuffer, kMaxLength, kStringMaxLength, constants, Blob, File, atob, btoa };
