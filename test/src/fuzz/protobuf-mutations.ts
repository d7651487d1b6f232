/**
 * Byte-level mutations of serialized protobuf messages: what a broken or
 * hostile client can put on the wire that protobuf-es would never produce
 * (truncated varints, wrong wire types, unknown and repeated fields, invalid
 * UTF-8, lengths that run past the end), plus plain random bytes.
 */
import fc from 'fast-check';

type Edit =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyEdit(bytes: Uint8Array, e: Edit): Uint8Array {
  if (bytes.length === 0) return e.kind === 'insert' ? e.bytes : bytes;
  const at = e.at % bytes.length;
  switch (e.kind) {
    case 'flip': {
      const out = bytes.slice();
      out[at]! ^= 1 << e.bit;
      return out;
    }
    case 'set': {
      const out = bytes.slice();
      out[at] = e.value;
      return out;
    }
    case 'insert':
      return concat(bytes.subarray(0, at), e.bytes, bytes.subarray(at));
    case 'delete':
      return concat(bytes.subarray(0, at), bytes.subarray(at + e.length));
    case 'truncate':
      return bytes.slice(0, at);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** One extra field of any number and wire type (valid or not), with a payload that may or may not fit it. */
const extraField: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 24 }), fc.boolean())
  .map(([field, wireType, payload, lengthPrefixed]) =>
    Uint8Array.from([...varint((field << 3) | wireType), ...(lengthPrefixed ? varint(payload.length) : []), ...payload]),
  );

/** Random bytes, or `valid` with up to four edits, or `valid` with extra fields appended. */
export function mutatedMessage(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 96 }), weight: 2 },
    { arbitrary: fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => edits.reduce(applyEdit, valid)), weight: 5 },
    { arbitrary: fc.array(extraField, { minLength: 1, maxLength: 3 }).map((extra) => concat(valid, ...extra)), weight: 2 },
  );
}
