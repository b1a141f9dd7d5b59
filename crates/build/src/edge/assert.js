// node:assert for Edge functions (vercel-compat 7.1).
import { isDeepStrictEqual, inspect } from 'node:util';
export class AssertionError extends Error {
  constructor(options = {}) {
    super(options.message || `${inspect(options.actual, 1)} ${options.operator} ${inspect(options.expected, 1)}`);
    this.name = 'AssertionError';
    this.code = 'ERR_ASSERTION';
    this.actual = options.actual;
    this.expected = options.expected;
    this.operator = options.operator;
    this.generatedMessage = !options.message;
  }
}
function check(ok, actual, expected, operator, message) {
  if (ok) return;
  if (message instanceof Error) throw message;
  throw new AssertionError({ actual, expected, operator, message });
}
function looseDeepEqual(a, b) {
  // eslint-disable-next-line eqeqeq
  if (a == b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || !a || !b) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => looseDeepEqual(a[k], b[k]));
}
export function ok(value, message) { check(!!value, value, true, '==', message); }
export const assert = Object.assign((value, message) => ok(value, message), {});
// eslint-disable-next-line eqeqeq
export function equal(a, b, m) { check(a == b, a, b, '==', m); }
// eslint-disable-next-line eqeqeq
export function notEqual(a, b, m) { check(a != b, a, b, '!=', m); }
export function strictEqual(a, b, m) { check(Object.is(a, b), a, b, 'strictEqual', m); }
export function notStrictEqual(a, b, m) { check(!Object.is(a, b), a, b, 'notStrictEqual', m); }
export function deepEqual(a, b, m) { check(looseDeepEqual(a, b), a, b, 'deepEqual', m); }
export function notDeepEqual(a, b, m) { check(!looseDeepEqual(a, b), a, b, 'notDeepEqual', m); }
export function deepStrictEqual(a, b, m) { check(isDeepStrictEqual(a, b), a, b, 'deepStrictEqual', m); }
export function notDeepStrictEqual(a, b, m) { check(!isDeepStrictEqual(a, b), a, b, 'notDeepStrictEqual', m); }
export function fail(message = 'Failed') { throw message instanceof Error ? message : new AssertionError({ message, operator: 'fail' }); }
function matches(error, expected) {
  if (expected === undefined) return true;
  if (typeof expected === 'function') return expected.prototype !== undefined && error instanceof expected ? true : expected.prototype === undefined ? expected(error) === true : false;
  if (expected instanceof RegExp) return expected.test(String(error && error.message !== undefined ? error.message : error));
  if (typeof expected === 'object') return Object.keys(expected).every((k) => isDeepStrictEqual(error[k], expected[k]) || (expected[k] instanceof RegExp && expected[k].test(error[k])));
  return true;
}
export function throws(fn, expected, message) {
  try { fn(); } catch (e) { check(matches(e, expected), e, expected, 'throws', message); return; }
  check(false, undefined, expected, 'throws', message || 'Missing expected exception.');
}
export function doesNotThrow(fn, message) {
  try { fn(); } catch (e) { check(false, e, undefined, 'doesNotThrow', message || `Got unwanted exception: ${e && e.message}`); }
}
export async function rejects(p, expected, message) {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { check(matches(e, expected), e, expected, 'rejects', message); return; }
  check(false, undefined, expected, 'rejects', message || 'Missing expected rejection.');
}
export async function doesNotReject(p, message) {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { check(false, e, undefined, 'doesNotReject', message || `Got unwanted rejection: ${e && e.message}`); }
}
export function match(s, re, m) { check(re.test(s), s, re, 'match', m); }
export function ifError(v) { if (v !== null && v !== undefined) throw v; }
Object.assign(assert, { ok, equal, notEqual, strictEqual, notStrictEqual, deepEqual, notDeepEqual, deepStrictEqual, notDeepStrictEqual, fail, throws, doesNotThrow, rejects, doesNotReject, match, ifError, AssertionError });
assert.strict = assert;
export const strict = assert;
export default assert;
