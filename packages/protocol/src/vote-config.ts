/**
 * The rules of a vote round's configuration (RoundConfig.kind = VOTES,
 * proto/secagg/round/v1/round.proto VoteRoundConfig): what the gateway checks
 * before asking the keyholder, and the keyholder again as the authority.
 * Kept apart from round-config.ts so gradient rounds read as before.
 */
import { refuse, SecaggError } from '@secagg/core';
import { RoundKind, VoteMechanism, VoteShape, type RoundConfig, type VoteRoundConfig } from '@secagg/proto';

/** VoteRoundConfig.transfer_set_id: a versioned name, e.g. "spam-assassin-transfer/v1". */
export const TRANSFER_SET_ID = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** True for a vote round; UNSPECIFIED is a gradient round (every round before kinds existed). */
export function isVoteRound(config: RoundConfig): boolean {
  return config.kind === RoundKind.VOTES;
}

function invalid(field: string, why: string): SecaggError {
  return refuse('bad_round_config', `config.${field} ${why}`);
}

/**
 * Checks the vote-specific fields of a round whose gradient-round fields
 * (length, clients, deadline, group) were checked by checkRoundConfig.
 * Throws INVALID_ARGUMENT naming the first field out of range; returns the
 * vote parameters.
 */
export function checkVoteConfig(config: RoundConfig): VoteRoundConfig {
  const votes = config.votes;
  if (!votes) throw invalid('votes', 'is required for a vote round (kind ROUND_KIND_VOTES)');
  if (config.clipNorm !== 0) throw invalid('clip_norm', 'must be 0 (unset) in a vote round: vote values are in [0, 1]');
  if (config.noiseMultiplier !== 0) throw invalid('noise_multiplier', 'must be 0 (unset) in a vote round: its noise is votes.sigma1/sigma2');
  if (!(config.samplingRate === 0 || config.samplingRate === 1)) throw invalid('sampling_rate', 'must be 0 or 1 in a vote round (teachers are not sampled)');
  if (!(votes.queries >= 1)) throw invalid('votes.queries', 'must be >= 1');
  if (!(votes.classes >= 2)) throw invalid('votes.classes', 'must be >= 2');
  if (votes.queries * votes.classes !== config.vectorLength) {
    throw invalid('vector_length', `must equal votes.queries * votes.classes = ${votes.queries * votes.classes} in a vote round`);
  }
  switch (votes.shape) {
    case VoteShape.ONE_HOT:
    case VoteShape.SOFT:
      if (votes.topK !== 0) throw invalid('votes.top_k', 'must be 0 unless shape is VOTE_SHAPE_TOP_K');
      break;
    case VoteShape.TOP_K:
      if (!(votes.topK >= 1 && votes.topK < votes.classes)) throw invalid('votes.top_k', `must be in [1, classes - 1 = ${votes.classes - 1}]`);
      break;
    default:
      throw invalid('votes.shape', 'must be ONE_HOT, TOP_K or SOFT');
  }
  const noiseFree = config.unsafeDisableNoise;
  const sigma = (name: 'sigma1' | 'sigma2', value: number): void => {
    if (!Number.isFinite(value) || value < 0) throw invalid(`votes.${name}`, 'must be finite and >= 0');
    if (value === 0 && !noiseFree) throw invalid(`votes.${name}`, 'must be > 0 (0 only with unsafe_disable_noise)');
  };
  switch (votes.mechanism) {
    case VoteMechanism.NOISY_HISTOGRAM:
    case VoteMechanism.GNMAX:
      sigma('sigma2', votes.sigma2);
      if (votes.sigma1 !== 0) throw invalid('votes.sigma1', 'is for VOTE_MECHANISM_CONFIDENT_GNMAX only: must be 0');
      if (votes.threshold !== 0) throw invalid('votes.threshold', 'is for VOTE_MECHANISM_CONFIDENT_GNMAX only: must be 0');
      break;
    case VoteMechanism.CONFIDENT_GNMAX:
      sigma('sigma1', votes.sigma1);
      sigma('sigma2', votes.sigma2);
      if (!Number.isFinite(votes.threshold) || votes.threshold < 0) throw invalid('votes.threshold', 'must be finite and >= 0');
      break;
    default:
      throw invalid('votes.mechanism', 'must be NOISY_HISTOGRAM, GNMAX or CONFIDENT_GNMAX');
  }
  if (!TRANSFER_SET_ID.test(votes.transferSetId)) throw invalid('votes.transfer_set_id', 'must be 1-128 characters of [A-Za-z0-9_.:/-]');
  if (votes.transferSetSha256.length !== 32) throw invalid('votes.transfer_set_sha256', 'must be 32 bytes (SHA-256)');
  return votes;
}

/** Largest value one teacher's vote can put in any coordinate: the coordinate bound the encoding scale is chosen for. */
export const VOTE_VALUE_BOUND = 1;
