/** Identifier formats shared by every service; checked at each boundary. */
import { refuse } from '@secagg/core';

export const ROUND_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const UPDATE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const PRIVACY_GROUP = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkRoundId(roundId: string): string {
  if (!ROUND_ID.test(roundId)) {
    throw refuse('bad_round_id', 'round_id must be 1-64 characters of [A-Za-z0-9_-]');
  }
  return roundId;
}

export function checkUpdateId(updateId: string): string {
  if (!UPDATE_ID.test(updateId)) {
    throw refuse('bad_update_id', 'update_id must be 1-64 characters of [A-Za-z0-9_.-]');
  }
  return updateId;
}
