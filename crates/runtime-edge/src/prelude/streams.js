// eddy edge prelude, part 2: WHATWG streams, compact (default readers and writers, queues
// counted in chunks, BYOB readers read into the caller's view).
class ReadableStreamDefaultController {
  constructor(stream) { this[kState] = stream; }
  get desiredSize() { const s = this[kState][kState]; return s.state === 'readable' ? s.hwm - s.queue.length : 0; }
  enqueue(chunk) {
    const s = this[kState][kState];
    if (s.closeRequested || s.state !== 'readable') throw new TypeError('the stream is closed or closing');
    if (s.reads.length) s.reads.shift().resolve({ value: chunk, done: false });
    else s.queue.push(chunk);
    pullIfNeeded(this[kState]);
  }
  close() {
    const s = this[kState][kState];
    if (s.closeRequested || s.state !== 'readable') throw new TypeError('the stream is already closed');
    s.closeRequested = true;
    if (!s.queue.length) finishClose(this[kState]);
  }
  error(e) { errorStream(this[kState], e); }
}
function finishClose(stream) {
  const s = stream[kState];
  if (s.state !== 'readable') return;
  s.state = 'closed';
  for (const r of s.reads.splice(0)) r.resolve({ value: undefined, done: true });
  if (s.reader) s.reader[kState].closed.resolve(undefined);
}
function errorStream(stream, e) {
  const s = stream[kState];
  if (s.state !== 'readable') return;
  s.state = 'errored';
  s.error = e;
  s.queue = [];
  for (const r of s.reads.splice(0)) r.reject(e);
  if (s.reader) { s.reader[kState].closed.reject(e); s.reader[kState].closed.promise.catch(() => {}); }
}
function deferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => { d.resolve = resolve; d.reject = reject; });
  return d;
}
function pullIfNeeded(stream) {
  const s = stream[kState];
  if (!s.started || s.pulling || s.state !== 'readable' || s.closeRequested || !s.source.pull) return;
  if (s.queue.length >= s.hwm && !s.reads.length) return;
  s.pulling = true;
  Promise.resolve()
    .then(() => s.source.pull(s.controller))
    .then(() => {
      s.pulling = false;
      if (s.reads.length || s.queue.length < s.hwm) pullIfNeeded(stream);
    }, (e) => errorStream(stream, e));
}
class ReadableStream {
  constructor(source = {}, strategy = {}) {
    const hwm = strategy.highWaterMark === undefined ? 1 : strategy.highWaterMark;
    this[kState] = { state: 'readable', queue: [], reads: [], source, hwm, reader: null, started: false, pulling: false, closeRequested: false, disturbed: false };
    const controller = new ReadableStreamDefaultController(this);
    this[kState].controller = controller;
    Promise.resolve()
      .then(() => (source.start ? source.start(controller) : undefined))
      .then(() => { this[kState].started = true; pullIfNeeded(this); }, (e) => errorStream(this, e));
  }
  static from(iterable) {
    const it = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    return new ReadableStream({
      async pull(c) { const r = await it.next(); if (r.done) c.close(); else c.enqueue(r.value); },
      async cancel(reason) { if (it.return) await it.return(reason); },
    }, { highWaterMark: 0 });
  }
  get locked() { return !!this[kState].reader; }
  getReader(options = {}) {
    if (this[kState].reader) throw new TypeError('ReadableStream is already locked to a reader');
    return options.mode === 'byob' ? new ReadableStreamBYOBReader(this) : new ReadableStreamDefaultReader(this);
  }
  cancel(reason) {
    if (this[kState].reader) return Promise.reject(new TypeError('cannot cancel a locked stream'));
    return cancelStream(this, reason);
  }
  tee() {
    const reader = this.getReader();
    const branches = [];
    let pulling = null;
    const pull = () => {
      if (!pulling) {
        pulling = reader.read().then(({ value, done }) => {
          pulling = null;
          for (const c of branches) { try { if (done) c.close(); else c.enqueue(value); } catch {} }
        }, (e) => { for (const c of branches) c.error(e); });
      }
      return pulling;
    };
    const make = () => new ReadableStream({ start(c) { branches.push(c); }, pull }, { highWaterMark: 0 });
    return [make(), make()];
  }
  pipeThrough(transform, options) {
    this.pipeTo(transform.writable, options).catch(() => {});
    return transform.readable;
  }
  async pipeTo(dest, options = {}) {
    const reader = this.getReader();
    const writer = dest.getWriter();
    try {
      for (;;) {
        if (options.signal && options.signal.aborted) throw options.signal.reason;
        const { value, done } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      if (!options.preventClose) await writer.close();
    } catch (e) {
      if (!options.preventAbort) await writer.abort(e).catch(() => {});
      if (!options.preventCancel) await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      reader.releaseLock();
      writer.releaseLock();
    }
  }
  async *values(options = {}) {
    const reader = this.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      if (!options.preventCancel) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }
  [Symbol.asyncIterator](options) { return this.values(options); }
}
function cancelStream(stream, reason) {
  const s = stream[kState];
  s.disturbed = true;
  if (s.state === 'closed') return Promise.resolve();
  if (s.state === 'errored') return Promise.reject(s.error);
  s.queue = [];
  finishClose(stream);
  return Promise.resolve(s.source.cancel ? s.source.cancel(reason) : undefined).then(() => undefined);
}
function readFrom(stream) {
  const s = stream[kState];
  s.disturbed = true;
  if (s.queue.length) {
    const value = s.queue.shift();
    if (s.closeRequested && !s.queue.length) finishClose(stream);
    else pullIfNeeded(stream);
    return Promise.resolve({ value, done: false });
  }
  if (s.state === 'closed') return Promise.resolve({ value: undefined, done: true });
  if (s.state === 'errored') return Promise.reject(s.error);
  const d = deferred();
  s.reads.push(d);
  pullIfNeeded(stream);
  return d.promise;
}
class ReadableStreamDefaultReader {
  constructor(stream) {
    if (stream[kState].reader) throw new TypeError('ReadableStream is already locked to a reader');
    stream[kState].reader = this;
    const closed = deferred();
    if (stream[kState].state === 'closed') closed.resolve();
    if (stream[kState].state === 'errored') { closed.reject(stream[kState].error); closed.promise.catch(() => {}); }
    this[kState] = { stream, closed };
  }
  get closed() { return this[kState].closed.promise; }
  read() {
    const stream = this[kState].stream;
    if (!stream) return Promise.reject(new TypeError('the reader was released'));
    return readFrom(stream);
  }
  cancel(reason) {
    const stream = this[kState].stream;
    return stream ? cancelStream(stream, reason) : Promise.resolve();
  }
  releaseLock() {
    const stream = this[kState].stream;
    if (!stream) return;
    for (const r of stream[kState].reads.splice(0)) r.reject(new TypeError('the reader was released'));
    stream[kState].reader = null;
    this[kState].stream = null;
  }
}
class ReadableStreamBYOBReader extends ReadableStreamDefaultReader {
  async read(view) {
    const st = this[kState];
    if (st.leftover && st.leftover.length) return { value: fill(view, st), done: false };
    const { value, done } = await super.read();
    if (done) return { value: new view.constructor(view.buffer, view.byteOffset, 0), done: true };
    st.leftover = toBytes(value);
    return { value: fill(view, st), done: false };
  }
}
function fill(view, st) {
  const target = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const n = Math.min(target.length, st.leftover.length);
  target.set(st.leftover.subarray(0, n));
  st.leftover = st.leftover.subarray(n);
  return new view.constructor(view.buffer, view.byteOffset, n / (view.BYTES_PER_ELEMENT || 1));
}
define('ReadableStream', ReadableStream);
define('ReadableStreamDefaultReader', ReadableStreamDefaultReader);
define('ReadableStreamBYOBReader', ReadableStreamBYOBReader);
define('ReadableStreamDefaultController', ReadableStreamDefaultController);

class WritableStreamDefaultController {
  constructor(stream) { this[kState] = stream; }
  error(e) { writableError(this[kState], e); }
  get signal() { return this[kState][kState].abort.signal; }
}
function writableError(stream, e) {
  const s = stream[kState];
  if (s.state === 'errored' || s.state === 'closed') return;
  s.state = 'errored';
  s.error = e;
  if (s.writer) { s.writer[kState].closed.reject(e); s.writer[kState].closed.promise.catch(() => {}); }
}
class WritableStream {
  constructor(sink = {}, strategy = {}) {
    const controller = new WritableStreamDefaultController(this);
    this[kState] = { state: 'writable', sink, writer: null, controller, abort: new AbortController(), chain: null, hwm: strategy.highWaterMark === undefined ? 1 : strategy.highWaterMark, pending: 0 };
    this[kState].chain = Promise.resolve().then(() => (sink.start ? sink.start(controller) : undefined));
    this[kState].chain.catch((e) => writableError(this, e));
  }
  get locked() { return !!this[kState].writer; }
  getWriter() { return new WritableStreamDefaultWriter(this); }
  abort(reason) { return writableAbort(this, reason); }
  close() {
    if (this[kState].writer) return Promise.reject(new TypeError('the stream is locked'));
    return writableClose(this);
  }
}
function writableEnqueue(stream, op) {
  const s = stream[kState];
  s.pending++;
  const p = s.chain.then(() => {
    if (s.state === 'errored') throw s.error;
    return op();
  });
  s.chain = p.then(() => { s.pending--; }, (e) => { s.pending--; writableError(stream, e); });
  return p;
}
function writableClose(stream) {
  const s = stream[kState];
  if (s.state !== 'writable') return Promise.reject(new TypeError('the stream is closed or errored'));
  s.state = 'closing';
  return writableEnqueue(stream, () => (s.sink.close ? s.sink.close() : undefined)).then(() => {
    s.state = 'closed';
    if (s.writer) s.writer[kState].closed.resolve();
  });
}
function writableAbort(stream, reason) {
  const s = stream[kState];
  if (s.state === 'closed' || s.state === 'errored') return Promise.resolve();
  s.abort.abort(reason);
  writableError(stream, reason);
  return Promise.resolve(s.sink.abort ? s.sink.abort(reason) : undefined).then(() => undefined);
}
class WritableStreamDefaultWriter {
  constructor(stream) {
    if (stream[kState].writer) throw new TypeError('WritableStream is already locked to a writer');
    stream[kState].writer = this;
    this[kState] = { stream, closed: deferred() };
  }
  get closed() { return this[kState].closed.promise; }
  get ready() { return this[kState].stream ? this[kState].stream[kState].chain.then(() => undefined, () => undefined) : Promise.resolve(); }
  get desiredSize() { const s = this[kState].stream[kState]; return s.hwm - s.pending; }
  write(chunk) {
    const stream = this[kState].stream;
    if (!stream) return Promise.reject(new TypeError('the writer was released'));
    const s = stream[kState];
    if (s.state !== 'writable') return Promise.reject(s.error || new TypeError('the stream is closed'));
    return writableEnqueue(stream, () => (s.sink.write ? s.sink.write(chunk, s.controller) : undefined));
  }
  close() { return this[kState].stream ? writableClose(this[kState].stream) : Promise.reject(new TypeError('the writer was released')); }
  abort(reason) { return this[kState].stream ? writableAbort(this[kState].stream, reason) : Promise.resolve(); }
  releaseLock() {
    if (this[kState].stream) this[kState].stream[kState].writer = null;
    this[kState].stream = null;
  }
}
define('WritableStream', WritableStream);
define('WritableStreamDefaultWriter', WritableStreamDefaultWriter);
define('WritableStreamDefaultController', WritableStreamDefaultController);

class TransformStreamDefaultController {
  constructor(readableController, stream) { this[kState] = readableController; this.stream = stream; }
  get desiredSize() { return this[kState].desiredSize; }
  enqueue(chunk) { this[kState].enqueue(chunk); }
  error(e) { this[kState].error(e); }
  terminate() { try { this[kState].close(); } catch {} }
}
class TransformStream {
  constructor(transformer = {}, writableStrategy = {}, readableStrategy = {}) {
    let readableController;
    this.readable = new ReadableStream({ start(c) { readableController = c; } }, readableStrategy);
    const started = Promise.resolve();
    let controller;
    const ready = started.then(() => {
      controller = new TransformStreamDefaultController(readableController, this);
      return transformer.start ? transformer.start(controller) : undefined;
    });
    this.writable = new WritableStream({
      write: (chunk) => ready.then(() => (transformer.transform ? transformer.transform(chunk, controller) : controller.enqueue(chunk))),
      close: () => ready.then(() => (transformer.flush ? transformer.flush(controller) : undefined)).then(() => { try { readableController.close(); } catch {} }),
      abort: (reason) => readableController.error(reason),
    }, writableStrategy);
  }
}
define('TransformStream', TransformStream);
define('TransformStreamDefaultController', TransformStreamDefaultController);
class TextEncoderStream extends TransformStream {
  constructor() {
    const enc = new TextEncoder();
    super({ transform(chunk, c) { const b = enc.encode(String(chunk)); if (b.length) c.enqueue(b); } });
  }
  get encoding() { return 'utf-8'; }
}
class TextDecoderStream extends TransformStream {
  constructor(label, options) {
    const dec = new TextDecoder(label, options);
    super({
      transform(chunk, c) { const s = dec.decode(chunk, { stream: true }); if (s) c.enqueue(s); },
      flush(c) { const s = dec.decode(); if (s) c.enqueue(s); },
    });
  }
  get encoding() { return 'utf-8'; }
}
define('TextEncoderStream', TextEncoderStream);
define('TextDecoderStream', TextDecoderStream);
class ByteLengthQueuingStrategy {
  constructor({ highWaterMark }) { this.highWaterMark = highWaterMark; }
  size(chunk) { return chunk.byteLength; }
}
class CountQueuingStrategy {
  constructor({ highWaterMark }) { this.highWaterMark = highWaterMark; }
  size() { return 1; }
}
define('ByteLengthQueuingStrategy', ByteLengthQueuingStrategy);
define('CountQueuingStrategy', CountQueuingStrategy);
