/**
 * Signed updates: each simulated client's update carries a marker that lets
 * the released sum itself say how many times that update is in it, ciphertext
 * by ciphertext.
 *
 * Layout. The vector is cut into blocks of `valuesPerBlock` values: block b is
 * exactly what ciphertext b of an update encrypts. In every block the first
 * `clients` positions are marker positions; client i writes `markerValue` at
 * position i of every block and 0 at the other marker positions, and a
 * seeded random "body" everywhere else. In a noise-free sum, position i of
 * block b therefore holds m(i, b) * markerValue, where m(i, b) is the number
 * of times ciphertext b of client i's update was added — nobody else writes
 * there. Decoding rounds m(i, b):
 *
 *   - the same integer m in every block:  m = 0 lost, 1 once, >= 2 duplicated;
 *   - blocks that disagree, or a value that is not near an integer (e.g. a
 *     corrupted or foreign ciphertext): partial.
 *
 * Folds add whole updates, so a partial result can only come from an update
 * whose ciphertexts were not all the ones sent (a lost, repeated or
 * reordered chunk in staging): exactly what this detects. The body (and the
 * whole-vector comparison the harness makes with the plaintext sum of
 * acknowledged updates) catches the rest.
 *
 * Norms: markers add blocks * markerValue^2 <= 0.25 and the body 0.25 to the
 * squared norm, so every update has norm <= 0.71 < clip norm 1 and is never
 * rescaled by clipping: what a client sends is what the sum must contain.
 */
import type { Prng } from './prng.js';

export interface SignatureLayout {
  length: number;
  valuesPerBlock: number;
  blocks: number;
  clients: number;
  /** The marker each client writes into each block. */
  markerValue: number;
  /** L2 norm of each update's body. */
  bodyNorm: number;
}

/** A value that decodes farther than this from an integer count is "partial". */
export const COUNT_TOLERANCE = 0.05;

/** The layout for `clients` signed updates of `length` values, `valuesPerBlock` per ciphertext. */
export function signatureLayout(length: number, valuesPerBlock: number, clients: number): SignatureLayout {
  const blocks = Math.ceil(length / valuesPerBlock);
  const lastBlock = length - (blocks - 1) * valuesPerBlock;
  if (clients > valuesPerBlock || clients > lastBlock || clients >= length) {
    throw new RangeError(
      `${clients} clients need ${clients} marker positions in every ciphertext block; with ${valuesPerBlock} values per ciphertext the last block of a ${length}-value vector has ${lastBlock}: use a length of k * ${valuesPerBlock} + r with ${clients} < r <= ${valuesPerBlock}`,
    );
  }
  return { length, valuesPerBlock, blocks, clients, markerValue: Math.min(0.1, 0.5 / Math.sqrt(blocks)), bodyNorm: 0.5 };
}

function isMarkerPosition(layout: SignatureLayout, index: number): boolean {
  return index % layout.valuesPerBlock < layout.clients;
}

/** Client `client`'s update: its marker in every block, a random body elsewhere. */
export function signedUpdate(layout: SignatureLayout, client: number, rng: Prng): Float64Array {
  if (!Number.isInteger(client) || client < 0 || client >= layout.clients) throw new RangeError(`client ${client} out of range`);
  const values = new Float64Array(layout.length);
  let squares = 0;
  for (let i = 0; i < layout.length; i++) {
    if (isMarkerPosition(layout, i)) continue;
    const v = rng.uniform(-1, 1);
    values[i] = v;
    squares += v * v;
  }
  const scale = squares > 0 ? layout.bodyNorm / Math.sqrt(squares) : 0;
  for (let i = 0; i < layout.length; i++) values[i]! *= scale;
  for (let b = 0; b < layout.blocks; b++) values[b * layout.valuesPerBlock + client] = layout.markerValue;
  return values;
}

export type Presence = 'absent' | 'once' | 'repeated' | 'partial';

export interface ClientPresence {
  client: number;
  /** m(i, b) as decoded, block by block (not rounded). */
  perBlock: number[];
  presence: Presence;
  /** The common count when consistent (0, 1, 2, ...), else undefined. */
  times: number | undefined;
}

/** Decodes, for every client, how many times its update is in `sum`. */
export function decodePresence(layout: SignatureLayout, sum: ArrayLike<number>): ClientPresence[] {
  if (sum.length !== layout.length) throw new RangeError(`sum has ${sum.length} values, layout ${layout.length}`);
  const result: ClientPresence[] = [];
  for (let client = 0; client < layout.clients; client++) {
    const perBlock: number[] = [];
    for (let b = 0; b < layout.blocks; b++) perBlock.push(sum[b * layout.valuesPerBlock + client]! / layout.markerValue);
    const rounded = perBlock.map(Math.round);
    const consistent =
      perBlock.every((m, b) => Math.abs(m - rounded[b]!) <= COUNT_TOLERANCE) && rounded.every((m) => m === rounded[0] && m >= 0);
    const times = consistent ? rounded[0]! : undefined;
    const presence: Presence = times === undefined ? 'partial' : times === 0 ? 'absent' : times === 1 ? 'once' : 'repeated';
    result.push({ client, perBlock, presence, times });
  }
  return result;
}

export interface PresenceTally {
  /** Distinct updates found in the sum (once or more, consistently). */
  folded: number;
  /** Acknowledged updates absent from the sum. */
  lost: number;
  /** Updates found more than once. */
  duplicated: number;
  /** Updates found inconsistently (some ciphertexts, or not an integer number of times). */
  partial: number;
  /** Updates found once although their client never got a receipt (allowed: the commit may have won the race with the crash). */
  unacknowledgedPresent: number;
}

export function tallyPresence(presences: ClientPresence[], acknowledged: ReadonlySet<number>): PresenceTally {
  const tally: PresenceTally = { folded: 0, lost: 0, duplicated: 0, partial: 0, unacknowledgedPresent: 0 };
  for (const p of presences) {
    if (p.presence === 'once' || p.presence === 'repeated') tally.folded++;
    if (p.presence === 'repeated') tally.duplicated++;
    if (p.presence === 'partial') tally.partial++;
    if (p.presence === 'absent' && acknowledged.has(p.client)) tally.lost++;
    if (p.presence === 'once' && !acknowledged.has(p.client)) tally.unacknowledgedPresent++;
  }
  return tally;
}
