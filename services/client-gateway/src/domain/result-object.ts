/**
 * Reading a released round's noisy sum from the ciphertext store (issue 11:
 * Redis holds only its record — object name, SHA-256, length — written by the
 * aggregator's finalize in the same script that marks the round RELEASED).
 *
 * Nothing of a bad object is served: before the first message the whole
 * object is read once, in blocks, and checked against the record (present,
 * the recorded length, which is the round's vector length of float64 values,
 * and the recorded SHA-256); a missing object is refused with `result_missing`,
 * any other mismatch with `result_corrupt` (both DATA_LOSS: retrying cannot
 * help, the operator must look). The values are then streamed from a second
 * read, hashed again on the way, so bytes that changed after the check end
 * the stream with `result_corrupt` instead of completing it. Memory per
 * stream: one read block (RESULT_READ_BLOCK_BYTES) plus the message being
 * built, whatever the vector length.
 */
import { createHash } from 'node:crypto';
import { refuse } from '@secagg/core';
import type { CiphertextStore, ObjectKey } from '@secagg/ciphertext-store';
import type { ResultObject } from '@secagg/store';

/** Bytes per released value (float64 LE). */
const VALUE_BYTES = 8;
/** How much of the object a result stream reads at a time: 131,072 values. */
export const RESULT_READ_BLOCK_BYTES = 1 << 20;

/**
 * The released sum of `roundId` as float64 blocks, after checking the whole
 * object against `recorded`. Throws `result_missing` / `result_corrupt`
 * before yielding anything when the object does not match its record.
 */
export async function* verifiedResultValues(
  objects: CiphertextStore,
  roundId: string,
  recorded: ResultObject,
  vectorLength: number,
): AsyncGenerator<Float64Array> {
  const key: ObjectKey = { roundId, name: recorded.name };
  if (recorded.bytes !== vectorLength * VALUE_BYTES) {
    throw refuse('result_corrupt', `the result record of round ${roundId} gives ${recorded.bytes} bytes, not ${vectorLength} float64 values`);
  }
  const size = await objects.size(key);
  if (size === undefined) throw missing(roundId);
  if (size !== recorded.bytes) throw refuse('result_corrupt', `the result object of round ${roundId} holds ${size} bytes, not the ${recorded.bytes} recorded`);
  // First pass: the check, so that a bad object is refused before any value leaves.
  const first = createHash('sha256');
  for await (const block of blocks(objects, key, roundId, vectorLength)) first.update(block);
  if (first.digest('hex') !== recorded.sha256) throw corrupt(roundId);
  // Second pass: the values, checked again at the end (the object is immutable; this guards against it being altered meanwhile).
  const second = createHash('sha256');
  for await (const block of blocks(objects, key, roundId, vectorLength)) {
    second.update(block);
    yield new Float64Array(block.buffer, block.byteOffset, block.byteLength / VALUE_BYTES);
  }
  if (second.digest('hex') !== recorded.sha256) throw corrupt(roundId);
}

/** The object's values in blocks of whole float64s (fresh, aligned buffers); a vanished or shortened object is refused. */
async function* blocks(objects: CiphertextStore, key: ObjectKey, roundId: string, vectorLength: number): AsyncGenerator<Uint8Array> {
  try {
    yield* objects.readRecords(key, VALUE_BYTES, 0, vectorLength, RESULT_READ_BLOCK_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') throw missing(roundId);
    if (error instanceof RangeError) throw corrupt(roundId);
    throw error;
  }
}

function missing(roundId: string) {
  return refuse('result_missing', `the result of round ${roundId} is missing from the ciphertext store`);
}

function corrupt(roundId: string) {
  return refuse('result_corrupt', `the result object of round ${roundId} does not match its recorded SHA-256`);
}
