/** Round lookups shared by the handlers. */
import { refuse } from '@secagg/core';
import { checkRoundId } from '@secagg/protocol';
import type { RoundRecord, RoundStore } from '@secagg/store';

export async function requireRound(store: RoundStore, roundId: string): Promise<RoundRecord> {
  const round = await store.getRound(checkRoundId(roundId));
  if (!round) throw refuse('round_not_found', `round ${roundId} does not exist`);
  return round;
}
