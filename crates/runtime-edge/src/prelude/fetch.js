// eddy edge prelude, part 3: Headers, Blob, File, FormData, Request, Response, fetch.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
class Headers {
  constructor(init) {
    this[kState] = new Map();
    if (init instanceof Headers) { for (const [k, v] of init[kState]) this[kState].set(k, v.slice()); }
    else if (init && typeof init[Symbol.iterator] === 'function') { for (const [k, v] of init) this.append(k, v); }
    else if (init && typeof init === 'object') { for (const k of Object.keys(init)) this.append(k, init[k]); }
  }
  append(name, value) {
    const k = checkName(name);
    const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    const list = this[kState].get(k);
    if (list) list.push(v); else this[kState].set(k, [v]);
  }
  delete(name) { this[kState].delete(checkName(name)); }
  get(name) {
    const list = this[kState].get(checkName(name));
    return list ? list.join(', ') : null;
  }
  getSetCookie() { return (this[kState].get('set-cookie') || []).slice(); }
  has(name) { return this[kState].has(checkName(name)); }
  set(name, value) { this[kState].set(checkName(name), [String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')]); }
  forEach(fn, thisArg) { for (const [k, v] of this) fn.call(thisArg, v, k, this); }
  *entries() {
    for (const k of [...this[kState].keys()].sort()) {
      const list = this[kState].get(k);
      if (k === 'set-cookie') { for (const v of list) yield [k, v]; } else yield [k, list.join(', ')];
    }
  }
  *keys() { for (const [k] of this.entries()) yield k; }
  *values() { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator]() { return this.entries(); }
}
function checkName(name) {
  const k = String(name);
  if (!HEADER_NAME.test(k)) throw new TypeError(`Invalid header name: "${k}"`);
  return k.toLowerCase();
}
function flatHeaders(headers) {
  const out = [];
  for (const [k, list] of headers[kState]) for (const v of list) out.push(k, v);
  return out;
}
define('Headers', Headers);

class Blob {
  constructor(parts = [], options = {}) {
    const chunks = [];
    for (const p of parts) {
      if (p instanceof Blob) chunks.push(p[kState]);
      else if (typeof p === 'string') chunks.push(N.utf8Encode(p));
      else chunks.push(toBytes(p).slice());
    }
    this[kState] = concatBytes(chunks);
    this.type = options.type ? String(options.type).toLowerCase() : '';
  }
  get size() { return this[kState].length; }
  slice(start = 0, end = this.size, type = '') {
    const b = new Blob([], { type });
    b[kState] = this[kState].slice(start, end);
    return b;
  }
  async text() { return N.utf8Decode(this[kState]); }
  async arrayBuffer() { return this[kState].slice().buffer; }
  async bytes() { return this[kState].slice(); }
  stream() { const bytes = this[kState]; return new ReadableStream({ start(c) { if (bytes.length) c.enqueue(bytes.slice()); c.close(); } }); }
}
class File extends Blob {
  constructor(parts, name, options = {}) {
    super(parts, options);
    this.name = String(name);
    this.lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
}
define('Blob', Blob);
define('File', File);

class FormData {
  constructor() { this[kState] = []; }
  append(name, value, filename) { this[kState].push([String(name), formValue(value, filename)]); }
  delete(name) { this[kState] = this[kState].filter(([k]) => k !== String(name)); }
  get(name) { const e = this[kState].find(([k]) => k === String(name)); return e ? e[1] : null; }
  getAll(name) { return this[kState].filter(([k]) => k === String(name)).map(([, v]) => v); }
  has(name) { return this[kState].some(([k]) => k === String(name)); }
  set(name, value, filename) {
    const i = this[kState].findIndex(([k]) => k === String(name));
    const entry = [String(name), formValue(value, filename)];
    if (i < 0) this[kState].push(entry);
    else this[kState] = this[kState].filter(([k], j) => j < i || k !== String(name)).map((e, j) => (j === i ? entry : e));
  }
  forEach(fn, thisArg) { for (const [k, v] of this[kState]) fn.call(thisArg, v, k, this); }
  *entries() { for (const [k, v] of this[kState]) yield [k, v]; }
  *keys() { for (const [k] of this[kState]) yield k; }
  *values() { for (const [, v] of this[kState]) yield v; }
  [Symbol.iterator]() { return this.entries(); }
}
function formValue(value, filename) {
  if (value instanceof Blob) {
    if (!(value instanceof File) || filename !== undefined) return new File([value], filename === undefined ? 'blob' : filename, { type: value.type });
    return value;
  }
  return String(value);
}
define('FormData', FormData);
function encodeMultipart(form) {
  const boundary = '----eddyformdata' + N.uuid().replace(/-/g, '');
  const chunks = [];
  const esc = (s) => s.replace(/"/g, '%22').replace(/\r?\n|\r/g, '%0D%0A');
  for (const [k, v] of form) {
    if (typeof v === 'string') {
      chunks.push(N.utf8Encode(`--${boundary}\r\nContent-Disposition: form-data; name="${esc(k)}"\r\n\r\n${v}\r\n`));
    } else {
      chunks.push(N.utf8Encode(`--${boundary}\r\nContent-Disposition: form-data; name="${esc(k)}"; filename="${esc(v.name)}"\r\nContent-Type: ${v.type || 'application/octet-stream'}\r\n\r\n`));
      chunks.push(v[kState], N.utf8Encode('\r\n'));
    }
  }
  chunks.push(N.utf8Encode(`--${boundary}--\r\n`));
  return { bytes: concatBytes(chunks), type: `multipart/form-data; boundary=${boundary}` };
}
function indexOfBytes(hay, needle, from) {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
function decodeMultipart(bytes, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new TypeError('multipart body without a boundary');
  const delim = N.utf8Encode('--' + (m[1] || m[2]));
  const form = new FormData();
  let at = indexOfBytes(bytes, delim, 0);
  while (at >= 0) {
    let start = at + delim.length;
    if (bytes[start] === 45 && bytes[start + 1] === 45) break;
    start += 2;
    const next = indexOfBytes(bytes, delim, start);
    if (next < 0) break;
    const part = bytes.subarray(start, next - 2);
    const split = indexOfBytes(part, N.utf8Encode('\r\n\r\n'), 0);
    const head = N.utf8Decode(part.subarray(0, split));
    const body = part.subarray(split + 4);
    const name = /name="([^"]*)"/i.exec(head);
    const filename = /filename="([^"]*)"/i.exec(head);
    const type = /content-type:\s*([^\r\n]+)/i.exec(head);
    if (name) {
      if (filename) form.append(name[1], new File([body], filename[1], { type: type ? type[1] : '' }));
      else form.append(name[1], N.utf8Decode(body));
    }
    at = next;
  }
  return form;
}

// Body sources: null, { bytes }, or { stream }.
function extractBody(init) {
  if (init === null || init === undefined) return { source: null, type: null };
  if (typeof init === 'string') return { source: { bytes: N.utf8Encode(init) }, type: 'text/plain;charset=UTF-8' };
  if (init instanceof ReadableStream) return { source: { stream: init }, type: null };
  if (init instanceof URLSearchParams) return { source: { bytes: N.utf8Encode(init.toString()) }, type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  if (init instanceof FormData) { const m = encodeMultipart(init); return { source: { bytes: m.bytes }, type: m.type }; }
  if (init instanceof Blob) return { source: { bytes: init[kState] }, type: init.type || null };
  if (init instanceof ArrayBuffer || ArrayBuffer.isView(init)) return { source: { bytes: toBytes(init).slice() }, type: null };
  if (typeof init[Symbol.asyncIterator] === 'function') return { source: { stream: ReadableStream.from(init) }, type: null };
  return { source: { bytes: N.utf8Encode(String(init)) }, type: 'text/plain;charset=UTF-8' };
}
async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(typeof value === 'string' ? N.utf8Encode(value) : toBytes(value));
  }
  reader.releaseLock();
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}
class BodyMixin {
  get body() {
    const st = this[kBody];
    if (!st.source) return null;
    if (!st.source.stream) {
      const bytes = st.source.bytes;
      st.source = { stream: new ReadableStream({ start(c) { if (bytes.length) c.enqueue(bytes); c.close(); } }), bytes };
    }
    return st.source.stream;
  }
  get bodyUsed() { const st = this[kBody]; return st.used || !!(st.source && st.source.stream && st.source.stream[kState].disturbed); }
  async bytes() {
    const st = this[kBody];
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    st.used = true;
    if (!st.source) return new Uint8Array(0);
    if (st.source.bytes && !(st.source.stream && st.source.stream[kState].disturbed)) return st.source.bytes.slice();
    return readAll(st.source.stream);
  }
  async arrayBuffer() { const b = await this.bytes(); return b.buffer.byteLength === b.byteLength ? b.buffer : b.slice().buffer; }
  async text() { return N.utf8Decode(await this.bytes()); }
  async json() { return JSON.parse(await this.text()); }
  async blob() { return new Blob([await this.bytes()], { type: this.headers.get('content-type') || '' }); }
  async formData() {
    const type = this.headers.get('content-type') || '';
    const bytes = await this.bytes();
    if (/multipart\/form-data/i.test(type)) return decodeMultipart(bytes, type);
    if (/application\/x-www-form-urlencoded/i.test(type)) {
      const form = new FormData();
      for (const [k, v] of new URLSearchParams(N.utf8Decode(bytes))) form.append(k, v);
      return form;
    }
    throw new TypeError(`cannot parse a body of type "${type}" as FormData`);
  }
}
const kBody = Symbol('body');
function mixBody(cls) {
  for (const name of Object.getOwnPropertyNames(BodyMixin.prototype)) {
    if (name !== 'constructor') Object.defineProperty(cls.prototype, name, Object.getOwnPropertyDescriptor(BodyMixin.prototype, name));
  }
}
function cloneBody(st) {
  if (!st.source) return { source: null, used: false };
  if (st.source.stream && !st.source.bytes) {
    const [a, b] = st.source.stream.tee();
    st.source = { stream: a };
    return { source: { stream: b }, used: false };
  }
  return { source: { bytes: st.source.bytes }, used: false };
}

class Request {
  constructor(input, init = {}) {
    let base = null;
    if (input instanceof Request) base = input;
    const url = base ? base.url : new URL(String(input)).href;
    this[kState] = {
      url,
      method: String(init.method || (base ? base.method : 'GET')).toUpperCase(),
      redirect: init.redirect || (base ? base.redirect : 'follow'),
      signal: init.signal || (base ? base.signal : new AbortController().signal),
      cache: init.cache || 'default',
      credentials: init.credentials || 'same-origin',
      mode: init.mode || 'cors',
      integrity: init.integrity || '',
      keepalive: !!init.keepalive,
      referrer: init.referrer === undefined ? 'about:client' : init.referrer,
      duplex: init.duplex || 'half',
    };
    this.headers = new Headers(init.headers !== undefined ? init.headers : base ? base.headers : undefined);
    if (init.body !== undefined && init.body !== null) {
      if (this.method === 'GET' || this.method === 'HEAD') throw new TypeError('Request with GET/HEAD method cannot have body.');
      const { source, type } = extractBody(init.body);
      this[kBody] = { source, used: false };
      if (type && !this.headers.has('content-type')) this.headers.set('content-type', type);
    } else if (base) {
      this[kBody] = cloneBody(base[kBody]);
    } else {
      this[kBody] = { source: null, used: false };
    }
  }
  get url() { return this[kState].url; }
  get method() { return this[kState].method; }
  get redirect() { return this[kState].redirect; }
  get signal() { return this[kState].signal; }
  get cache() { return this[kState].cache; }
  get credentials() { return this[kState].credentials; }
  get mode() { return this[kState].mode; }
  get integrity() { return this[kState].integrity; }
  get keepalive() { return this[kState].keepalive; }
  get referrer() { return this[kState].referrer; }
  get duplex() { return this[kState].duplex; }
  get destination() { return ''; }
  clone() {
    if (this.bodyUsed) throw new TypeError('cannot clone a Request whose body was read');
    const r = new Request(this);
    return r;
  }
}
mixBody(Request);
define('Request', Request);

const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
class Response {
  constructor(body = null, init = {}) {
    const status = init.status === undefined ? 200 : Number(init.status);
    if (!(status >= 200 && status <= 599) && status !== 101) throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
    this[kState] = { status, statusText: init.statusText === undefined ? '' : String(init.statusText), type: 'default', url: '', redirected: false };
    this.headers = new Headers(init.headers);
    const { source, type } = extractBody(body);
    this[kBody] = { source, used: false };
    if (type && !this.headers.has('content-type')) this.headers.set('content-type', type);
  }
  static json(data, init = {}) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('the value cannot be serialized to JSON');
    const r = new Response(text, init);
    r.headers.set('content-type', 'application/json');
    return r;
  }
  static redirect(url, status = 302) {
    if (!REDIRECT_STATUSES.includes(status)) throw new RangeError(`Invalid status code ${status}`);
    return new Response(null, { status, headers: { location: new URL(String(url)).href } });
  }
  static error() {
    const r = new Response(null, { status: 200 });
    r[kState].status = 0;
    r[kState].type = 'error';
    return r;
  }
  get status() { return this[kState].status; }
  get statusText() { return this[kState].statusText; }
  get ok() { return this.status >= 200 && this.status < 300; }
  get type() { return this[kState].type; }
  get url() { return this[kState].url; }
  get redirected() { return this[kState].redirected; }
  clone() {
    if (this.bodyUsed) throw new TypeError('cannot clone a Response whose body was read');
    const r = new Response(null, { status: this.status === 0 ? 200 : this.status, statusText: this.statusText, headers: this.headers });
    Object.assign(r[kState], this[kState]);
    r[kBody] = cloneBody(this[kBody]);
    return r;
  }
}
mixBody(Response);
define('Response', Response);

// --- fetch: a fetch is `pending` until its head arrives, then its body streams through the
// controller in `bodyOps` until the end.
const pendingOps = new Map();
const bodyOps = new Map();
function opDone(op, kind, value) {
  if (kind === 0) {
    const p = pendingOps.get(op);
    pendingOps.delete(op);
    if (p) p.resolve(value);
  } else if (kind === 1) {
    const c = bodyOps.get(op);
    if (c) c.enqueue(value);
  } else if (kind === 2) {
    const c = bodyOps.get(op);
    bodyOps.delete(op);
    if (c) c.close();
  } else {
    const error = new TypeError(`fetch failed: ${value}`);
    const p = pendingOps.get(op);
    pendingOps.delete(op);
    if (p) p.reject(error);
    const c = bodyOps.get(op);
    bodyOps.delete(op);
    if (c) c.error(error);
  }
}
async function fetch(input, init = {}) {
  const request = new Request(input, init);
  const signal = request.signal;
  if (signal && signal.aborted) throw signal.reason;
  const body = request[kBody].source ? await request.bytes() : undefined;
  const headers = flatHeaders(request.headers);
  const op = N.fetch(request.method, request.url, headers, body, request.redirect);
  const head = new Promise((resolve, reject) => pendingOps.set(op, { resolve, reject }));
  if (signal) {
    signal.addEventListener('abort', () => {
      N.cancelOp(op);
      const p = pendingOps.get(op);
      pendingOps.delete(op);
      if (p) p.reject(signal.reason);
      const c = bodyOps.get(op);
      bodyOps.delete(op);
      if (c) c.error(signal.reason);
    }, { once: true });
  }
  const [status, statusText, flat, url, redirected] = await head;
  const h = new Headers();
  for (let i = 0; i + 1 < flat.length; i += 2) h.append(flat[i], flat[i + 1]);
  const nullBody = status === 204 || status === 205 || status === 304 || request.method === 'HEAD';
  let stream = null;
  if (nullBody) {
    N.cancelOp(op);
  } else {
    stream = new ReadableStream({
      start(c) { bodyOps.set(op, c); },
      cancel() { bodyOps.delete(op); N.cancelOp(op); },
    }, { highWaterMark: 0 });
  }
  const response = new Response(stream, { status: status < 200 ? 200 : status, statusText, headers: h });
  response[kState].status = status;
  response[kState].url = url;
  response[kState].redirected = redirected;
  response[kState].type = 'basic';
  return response;
}
define('fetch', fetch);
