/**
 * Update streams as a client could send them — honest, or broken in one of
 * many ways: header wrong or missing, chunks out of order, duplicated,
 * dropped, relabelled, invalid, extra frames, trailer wrong or missing,
 * the stream cut (cancelled) or never finished (idle) — and the oracle that
 * says which status the SubmitUpdate contract (client_service.proto) demands
 * for each. The oracle reads the frames, not the plan, and judges
 * ciphertexts by the mutation oracle (ciphertext-mutations.ts), never by the
 * gateway's validator.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Code } from '@secagg/core';
import { create } from '@bufbuild/protobuf';
import { ROUND_ID, UPDATE_ID } from '@secagg/protocol';
import { SubmitUpdateRequestSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { invalidCiphertext, type CiphertextPool, type Mutated } from './ciphertext-mutations.js';
import { chunkFrame, headerFrame, sha256Of, trailerFrame } from './update-frames.js';
import type { StreamEnding } from './raw-client.js';

type HeaderDefect = 'none' | 'unknown-round' | 'bad-round-id' | 'bad-update-id' | 'wrong-length' | 'wrong-count' | 'missing' | 'empty-frame';
type BodyEdit =
  | { kind: 'swap'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'drop'; at: number }
  | { kind: 'extra' }
  | { kind: 'relabel'; at: number; label: number }
  | { kind: 'corrupt'; at: number; mutation: Mutated }
  | { kind: 'empty-frame'; at: number }
  | { kind: 'header-again'; at: number };
type TrailerKind = 'valid' | 'wrong-digest' | 'short-digest' | 'missing' | 'twice' | 'then-chunk';

export interface StreamPlan {
  header: HeaderDefect;
  /** Which honest update of the pool the stream starts from. */
  update: number;
  edits: BodyEdit[];
  trailer: TrailerKind;
  ending: StreamEnding['kind'];
  /** For 'cancel': frames written before the cut (undefined: all of them). */
  cutAfter: number | undefined;
}

/**
 * A frame and, for chunks, whether its ciphertext is valid (by the mutation
 * oracle) and, for an unmodified ciphertext of the pool, which update and
 * chunk it is (a stream that reorders or replaces chunks may still be valid:
 * what gets committed is then what the chunks carry).
 */
export interface PlannedFrame {
  message: SubmitUpdateRequest;
  ciphertextValid?: boolean;
  source?: { update: number; chunk: number };
}

export interface StreamTarget {
  roundId: string;
  vectorLength: number;
  ciphertextCount: number;
  pool: CiphertextPool;
  /** Honest updates: their ciphertexts under the round's key ... */
  updates: readonly Uint8Array[][];
  /** ... and their values. */
  values: readonly Float64Array[];
  valuesPerCiphertext: number;
}

export function streamPlan(target: StreamTarget): fc.Arbitrary<StreamPlan> {
  const n = target.ciphertextCount;
  const at = fc.nat(n - 1);
  const bodyEdit: fc.Arbitrary<BodyEdit> = fc.oneof(
    fc.record({ kind: fc.constant('swap' as const), at }),
    fc.record({ kind: fc.constant('duplicate' as const), at }),
    fc.record({ kind: fc.constant('drop' as const), at }),
    fc.record({ kind: fc.constant('extra' as const) }),
    fc.record({ kind: fc.constant('relabel' as const), at, label: fc.oneof(fc.nat(n + 2), fc.constant(2 ** 32 - 1)) }),
    { arbitrary: fc.record({ kind: fc.constant('corrupt' as const), at, mutation: invalidCiphertext(target.pool) }), weight: 3 },
    fc.record({ kind: fc.constant('empty-frame' as const), at }),
    fc.record({ kind: fc.constant('header-again' as const), at }),
  );
  return fc.record({
    header: fc.oneof(
      { arbitrary: fc.constant('none' as const), weight: 12 },
      fc.constantFrom<HeaderDefect>('unknown-round', 'bad-round-id', 'bad-update-id', 'wrong-length', 'wrong-count', 'missing', 'empty-frame'),
    ),
    update: fc.nat(target.updates.length - 1),
    edits: fc.oneof({ arbitrary: fc.constant<BodyEdit[]>([]), weight: 2 }, { arbitrary: fc.array(bodyEdit, { minLength: 1, maxLength: 2 }), weight: 3 }),
    trailer: fc.oneof(
      { arbitrary: fc.constant('valid' as const), weight: 6 },
      fc.constantFrom<TrailerKind>('wrong-digest', 'short-digest', 'missing', 'twice', 'then-chunk'),
    ),
    ending: fc.oneof(
      { arbitrary: fc.constant('half-close' as const), weight: 14 },
      { arbitrary: fc.constant('cancel' as const), weight: 3 },
      { arbitrary: fc.constant('idle' as const), weight: 1 },
    ),
    cutAfter: fc.option(fc.nat(n + 2), { nil: undefined }),
  });
}

const emptyFrame = (): SubmitUpdateRequest => create(SubmitUpdateRequestSchema, {});

/** The frames a plan sends (a subject and update id are the caller's). */
export function framesOf(plan: StreamPlan, target: StreamTarget, updateId: string): PlannedFrame[] {
  const cts = target.updates[plan.update]!;
  let chunks: PlannedFrame[] = cts.map((c, i) => ({ message: chunkFrame(i, c), ciphertextValid: true, source: { update: plan.update, chunk: i } }));
  for (const e of plan.edits) {
    const i = 'at' in e ? e.at % Math.max(1, chunks.length) : 0;
    switch (e.kind) {
      case 'swap':
        if (chunks.length > 1) {
          const j = (i + 1) % chunks.length;
          [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
        }
        break;
      case 'duplicate':
        if (chunks.length > 0) chunks.splice(i, 0, chunks[i]!);
        break;
      case 'drop':
        chunks.splice(i, 1);
        break;
      case 'extra':
        chunks.push({ message: chunkFrame(chunks.length, cts[0]!), ciphertextValid: true, source: { update: plan.update, chunk: 0 } });
        break;
      case 'relabel': {
        const old = chunks[i];
        if (old?.message.frame.case === 'chunk') chunks[i] = { ...old, message: chunkFrame(e.label, old.message.frame.value.ciphertext) };
        break;
      }
      case 'corrupt': {
        const old = chunks[i];
        if (old?.message.frame.case === 'chunk') chunks[i] = { message: chunkFrame(old.message.frame.value.index, e.mutation.bytes), ciphertextValid: false };
        break;
      }
      case 'empty-frame':
        chunks.splice(i, 0, { message: emptyFrame() });
        break;
      case 'header-again':
        chunks.splice(i, 0, { message: headerFrame(target.roundId, updateId, target.vectorLength, target.ciphertextCount) });
        break;
    }
  }
  chunks = chunks.filter(Boolean);
  const sent = chunks.flatMap((f) => (f.message.frame.case === 'chunk' ? [f.message.frame.value.ciphertext] : []));
  const digest = sha256Of(sent);
  const trailer: PlannedFrame[] = [];
  switch (plan.trailer) {
    case 'valid':
      trailer.push({ message: trailerFrame(digest) });
      break;
    case 'wrong-digest': {
      const wrong = Uint8Array.from(digest);
      wrong[0]! ^= 0x80;
      trailer.push({ message: trailerFrame(wrong) });
      break;
    }
    case 'short-digest':
      trailer.push({ message: trailerFrame(digest.subarray(0, 31)) });
      break;
    case 'missing':
      break;
    case 'twice':
      trailer.push({ message: trailerFrame(digest) }, { message: trailerFrame(digest) });
      break;
    case 'then-chunk':
      trailer.push({ message: trailerFrame(digest) }, { message: chunkFrame(sent.length, cts[0]!), ciphertextValid: true, source: { update: plan.update, chunk: 0 } });
      break;
  }
  const head: PlannedFrame[] = [];
  const { roundId, vectorLength, ciphertextCount } = target;
  switch (plan.header) {
    case 'none':
      head.push({ message: headerFrame(roundId, updateId, vectorLength, ciphertextCount) });
      break;
    case 'unknown-round':
      head.push({ message: headerFrame('r-does-not-exist', updateId, vectorLength, ciphertextCount) });
      break;
    case 'bad-round-id':
      head.push({ message: headerFrame(`${roundId}:{x}`, updateId, vectorLength, ciphertextCount) });
      break;
    case 'bad-update-id':
      head.push({ message: headerFrame(roundId, `${updateId}/../x`, vectorLength, ciphertextCount) });
      break;
    case 'wrong-length':
      head.push({ message: headerFrame(roundId, updateId, vectorLength + 1, ciphertextCount) });
      break;
    case 'wrong-count':
      head.push({ message: headerFrame(roundId, updateId, vectorLength, ciphertextCount + 1) });
      break;
    case 'missing':
      break;
    case 'empty-frame':
      head.push({ message: emptyFrame() });
      break;
  }
  const frames = [...head, ...chunks, ...trailer];
  return plan.ending === 'cancel' && plan.cutAfter !== undefined ? frames.slice(0, plan.cutAfter) : frames;
}

/**
 * The statuses the contract allows for `frames` ending as `ending`: exactly
 * one, except for a cancelled stream with a defect before the cut (the
 * server may answer the defect before the cancellation reaches it).
 */
export function expectedCodes(frames: readonly PlannedFrame[], ending: StreamEnding['kind'], target: StreamTarget): Code[] {
  const defect = firstDefect(frames, target);
  if (defect !== undefined) return ending === 'cancel' ? [defect, Code.Cancelled] : [defect];
  if (ending === 'cancel') return [Code.Cancelled];
  if (ending === 'idle') return [Code.DeadlineExceeded];
  return [completion(frames, target)];
}

/** The status of the first frame that breaks the contract, or undefined if every frame so far is acceptable. */
function firstDefect(frames: readonly PlannedFrame[], target: StreamTarget): Code | undefined {
  if (frames.length === 0) return undefined;
  const first = frames[0]!.message.frame;
  if (first.case !== 'header') return Code.InvalidArgument;
  const header = first.value;
  if (!UPDATE_ID.test(header.updateId) || !ROUND_ID.test(header.roundId)) return Code.InvalidArgument;
  if (header.roundId !== target.roundId) return Code.NotFound;
  if (header.vectorLength !== target.vectorLength || header.ciphertextCount !== target.ciphertextCount) return Code.InvalidArgument;
  let expected = 0;
  let trailer = false;
  for (const { message, ciphertextValid } of frames.slice(1)) {
    const frame = message.frame;
    if (trailer) return Code.InvalidArgument;
    if (frame.case === 'chunk') {
      if (frame.value.index !== expected || expected >= target.ciphertextCount || !ciphertextValid) return Code.InvalidArgument;
      expected++;
    } else if (frame.case === 'trailer') {
      trailer = true;
    } else {
      return Code.InvalidArgument;
    }
  }
  return undefined;
}

/** The status of a defect-free prefix of frames ended by a half-close. */
function completion(frames: readonly PlannedFrame[], target: StreamTarget): Code {
  if (frames.length === 0) return Code.InvalidArgument; // no header
  const chunks = frames.flatMap((f) => (f.message.frame.case === 'chunk' ? [f.message.frame.value.ciphertext] : []));
  const last = frames.at(-1)!.message.frame;
  if (last.case !== 'trailer') return Code.InvalidArgument;
  if (chunks.length !== target.ciphertextCount) return Code.InvalidArgument;
  const digest = createHash('sha256');
  for (const c of chunks) digest.update(c);
  return Buffer.from(last.value.sha256).equals(digest.digest()) ? Code.Ok : Code.InvalidArgument;
}

/**
 * The values a stream that was accepted commits: chunk by chunk, what each
 * chunk's ciphertext carries (the last chunk of an update is zero-padded, and
 * values past the vector length are dropped on decryption).
 */
export function committedValues(frames: readonly PlannedFrame[], target: StreamTarget): Float64Array {
  const per = target.valuesPerCiphertext;
  const padded = new Float64Array(target.ciphertextCount * per);
  let position = 0;
  for (const frame of frames) {
    if (frame.message.frame.case !== 'chunk') continue;
    const { update, chunk } = frame.source!;
    padded.set(target.values[update]!.subarray(chunk * per, (chunk + 1) * per), position * per);
    position++;
  }
  return padded.slice(0, target.vectorLength);
}
