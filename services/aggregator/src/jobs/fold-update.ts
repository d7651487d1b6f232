/**
 * fold-update job: add one committed update into one of the round's partial
 * sums, exactly once.
 *
 * Input: { roundId, clientId, updateId }. Reads a partial sum and its version,
 * adds the update in memory, and commits with compare-and-set (fold-commit
 * script): the partial sum and the folded-set membership change together, so
 * a retried, duplicated or concurrent fold of the same update adds nothing.
 * A conflict (another aggregator wrote that partial sum first) re-reads and
 * retries, picking a partial sum at random.
 *
 * Errors: a missing round or update data is permanent (UnrecoverableError);
 * Redis trouble and repeated conflicts are transient (retried with backoff).
 * When `signal` aborts (shutdown) before the compare-and-set, the fold stops
 * with the signal's reason and has written nothing.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, type Job } from 'bullmq';
import { formatOf } from '@secagg/protocol';
import type { FoldJob } from '@secagg/queue';
import type { AggregatorContext } from '../aggregator-context.js';
import { addInto } from '../domain/ciphertext-sum.js';

export type FoldResult = 'folded' | 'duplicate' | 'round-ended';

export async function foldUpdate(job: Pick<Job<FoldJob>, 'data'>, deps: AggregatorContext, signal?: AbortSignal): Promise<FoldResult> {
  const { roundId, clientId, updateId } = job.data;
  const { store, config, logger } = deps;
  const round = await store.getRound(roundId);
  if (!round) throw new UnrecoverableError(`round ${roundId} does not exist`);
  if (round.state === 'RELEASED' || round.state === 'FAILED') return 'round-ended';
  if (await store.isFolded(roundId, clientId)) return 'duplicate';

  const update = await store.readUpdate(roundId, clientId);
  if (update.length === 0) {
    // Folded by someone else between the two reads, or never committed.
    if (await store.isFolded(roundId, clientId)) return 'duplicate';
    throw new UnrecoverableError(`update ${updateId} of ${clientId} has no committed data in round ${roundId}`);
  }
  if (update.length !== round.ckks.ciphertextCount) {
    throw new UnrecoverableError(`update ${updateId} has ${update.length} ciphertexts, round expects ${round.ckks.ciphertextCount}`);
  }
  const format = formatOf(round.ckks);

  for (let attempt = 0; attempt < config.foldMaxConflicts; attempt++) {
    const shard = randomInt(config.foldShards);
    const { version, ciphertexts } = await store.readShard(roundId, shard);
    let sum: Buffer[];
    if (ciphertexts.length === 0) {
      sum = update;
    } else {
      addInto(format, ciphertexts, update);
      sum = ciphertexts;
    }
    if (config.testFoldDelayMs > 0) await sleep(config.testFoldDelayMs, undefined, { signal }).catch(() => {});
    signal?.throwIfAborted();
    const outcome = await store.commitFold({ roundId, clientId, shard, expectedVersion: version, ciphertexts: sum });
    switch (outcome) {
      case 'FOLDED':
        logger.debug({ roundId, clientId, updateId, shard }, 'update folded');
        return 'folded';
      case 'DUPLICATE':
        return 'duplicate';
      case 'ENDED':
        return 'round-ended';
      case 'CONFLICT':
        // Only the shard copy was modified; `update` is intact for the next attempt.
        continue;
    }
  }
  throw new Error(`fold of ${updateId} lost ${config.foldMaxConflicts} compare-and-set races; will retry`);
}
