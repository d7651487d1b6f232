/** Digests both sides must compute the same way. */
import { createHash } from 'node:crypto';

/** One contributor: the client it is attributed to and its update id. */
export interface Contributor {
  clientId: string;
  updateId: string;
}

/**
 * SHA-256 of the sorted, newline-joined `clientId/updateId` strings: binds a
 * release to exactly the set of updates in the sum.
 */
export function contributorsDigest(contributors: Iterable<Contributor>): Uint8Array {
  const lines = [...contributors].map((c) => `${c.clientId}/${c.updateId}`).sort();
  return new Uint8Array(createHash('sha256').update(lines.join('\n')).digest());
}
