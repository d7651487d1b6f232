/** Round lookups shared by the handlers. */
import { Code, SecaggError } from '@secagg/core';
import { checkRoundId } from '@secagg/protocol';
import type { RoundRecord, RoundStore } from '@secagg/store';

export async function requireRound(store: RoundStore, roundId: string): Promise<RoundRecord> {
  const round = await store.getRound(checkRoundId(roundId));
  if (!round) throw new SecaggError(Code.NotFound, `round ${roundId} does not exist`, { errorCode: 'round_not_found' });
  return round;
}
