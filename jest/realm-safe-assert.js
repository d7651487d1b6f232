/**
 * `node:assert/strict` for tests run by jest, with deep equality that ignores which realm a built-in
 * value was made in. jest.config.js maps `node:assert/strict` here; the tests import node's module by its
 * own name and run unchanged under plain `node`.
 *
 * Why: jest runs every test file in its own `vm` context (a realm of its own), while Node's built-ins
 * (fs, node:sqlite, structuredClone, fetch().json(), ...) keep creating arrays and objects in the main
 * realm. `assert.deepStrictEqual` compares prototypes, so `readdirSync(dir)` never equals `['a']` under
 * jest (jestjs/jest#2549) although the same test passes under node. jest's own `toStrictEqual` tolerates
 * realms the same way, but is orders of magnitude slower on large arrays and takes no message.
 *
 * How: deepEqual/deepStrictEqual first compare as node does; only if that fails do they compare again
 * after copying every main-realm array, plain object, Map, Set and Date (at any depth) into this realm.
 * Everything else is compared exactly as node does: prototypes of classes, typed arrays, errors, -0 and 0,
 * undefined properties. notDeepEqual/notDeepStrictEqual compare the copies, so that a realm difference
 * alone never counts as "different".
 */
import { strict } from 'node:assert';
import { runInThisContext } from 'node:vm';

/** The main realm's prototypes (runInThisContext runs in the main context, not in jest's). */
const MAIN = runInThisContext('({ array: Array.prototype, object: Object.prototype, map: Map.prototype, set: Set.prototype, date: Date.prototype })');

/** `value` with every main-realm array, plain object, Map, Set and Date replaced by a copy made here. */
function adopt(value, seen = new Map()) {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  const proto = Object.getPrototypeOf(value);
  let copy;
  if (proto === MAIN.date) {
    copy = new Date(value.getTime());
    seen.set(value, copy);
    return copy;
  }
  if (proto === MAIN.map || proto === Map.prototype) {
    copy = new Map();
    seen.set(value, copy);
    for (const [k, v] of value) copy.set(adopt(k, seen), adopt(v, seen));
    return proto === Map.prototype && sameEntries(value, copy) ? keep(value, seen) : copy;
  }
  if (proto === MAIN.set || proto === Set.prototype) {
    copy = new Set();
    seen.set(value, copy);
    for (const v of value) copy.add(adopt(v, seen));
    return proto === Set.prototype && [...value].every((v) => copy.has(v)) ? keep(value, seen) : copy;
  }
  if (proto === MAIN.array || proto === Array.prototype) copy = new Array(value.length);
  else if (proto === MAIN.object || proto === Object.prototype) copy = {};
  else return value; // class instances, typed arrays, errors, null-prototype objects: as node compares them
  seen.set(value, copy);
  let changed = proto === MAIN.array || proto === MAIN.object;
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if ('value' in descriptor) {
      descriptor.value = adopt(descriptor.value, seen);
      if (descriptor.value !== value[key]) changed = true;
    }
    Object.defineProperty(copy, key, descriptor);
  }
  return changed ? copy : keep(value, seen);
}

/** Records that `value` needed no copy (so a cycle through it resolves to the original). */
function keep(value, seen) {
  seen.set(value, value);
  return value;
}

function sameEntries(original, copy) {
  for (const [k, v] of original) if (!copy.has(k) || copy.get(k) !== v) return false;
  return true;
}

function deepEqual(actual, expected, message) {
  try {
    strict.deepStrictEqual(actual, expected, message);
  } catch (error) {
    if (!(error instanceof strict.AssertionError)) throw error;
    try {
      strict.deepStrictEqual(adopt(actual), adopt(expected), message);
    } catch (again) {
      // Point the report at the test's line, not at this module.
      if (again instanceof strict.AssertionError) Error.captureStackTrace(again, deepEqual);
      throw again;
    }
  }
}

function notDeepEqual(actual, expected, message) {
  try {
    strict.notDeepStrictEqual(adopt(actual), adopt(expected), message);
  } catch (error) {
    if (error instanceof strict.AssertionError) Error.captureStackTrace(error, notDeepEqual);
    throw error;
  }
}

/** node:assert/strict's own function object, with the deep comparisons replaced. */
const assert = Object.assign((...args) => strict(...args), strict, {
  deepEqual,
  deepStrictEqual: deepEqual,
  notDeepEqual,
  notDeepStrictEqual: notDeepEqual,
});
assert.strict = assert;

export default assert;
export const {
  AssertionError,
  CallTracker,
  ok,
  fail,
  equal,
  notEqual,
  strictEqual,
  notStrictEqual,
  partialDeepStrictEqual,
  match,
  doesNotMatch,
  throws,
  rejects,
  doesNotThrow,
  doesNotReject,
  ifError,
  Assert,
} = strict;
export { deepEqual, deepEqual as deepStrictEqual, notDeepEqual, notDeepEqual as notDeepStrictEqual, assert as strict };
