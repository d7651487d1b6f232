/**
 * The rules a RoundConfig must satisfy. The gateway checks them before asking
 * the keyholder; the keyholder checks them again, as the authority on policy.
 */
import { refuse, SecaggError } from '@secagg/core';
import { Encoding, RoundKind, type RoundConfig } from '@secagg/proto';
import { PRIVACY_GROUP } from './ids.js';
import { checkVoteConfig, isVoteRound, VOTE_VALUE_BOUND } from './vote-config.js';

export interface RoundLimits {
  /** Largest vector_length accepted. */
  maxVectorLength: number;
  /** Largest max_clients accepted. */
  maxClientsPerRound: number;
  /** Longest time from now to the deadline, ms. */
  maxRoundDurationMs: number;
}

export const DEFAULT_ROUND_LIMITS: RoundLimits = {
  maxVectorLength: 100_000_000,
  maxClientsPerRound: 100_000,
  maxRoundDurationMs: 7 * 24 * 3_600_000,
};

function invalid(field: string, why: string): SecaggError {
  return refuse('bad_round_config', `config.${field} ${why}`);
}

/** Throws INVALID_ARGUMENT naming the first field out of range. */
export function checkRoundConfig(config: RoundConfig | undefined, limits: RoundLimits, nowMs: number): RoundConfig {
  if (!config) throw invalid('', 'is required');
  if (!Number.isInteger(config.vectorLength) || config.vectorLength < 1 || config.vectorLength > limits.maxVectorLength) {
    throw invalid('vector_length', `must be 1..${limits.maxVectorLength}`);
  }
  if (config.minClients < 1) throw invalid('min_clients', 'must be at least 1');
  if (config.maxClients < config.minClients) throw invalid('max_clients', 'must be >= min_clients');
  if (config.maxClients > limits.maxClientsPerRound) throw invalid('max_clients', `must be <= ${limits.maxClientsPerRound}`);
  const deadline = Number(config.deadlineUnixMs);
  if (!(deadline > nowMs)) throw invalid('deadline_unix_ms', 'must be in the future');
  if (deadline - nowMs > limits.maxRoundDurationMs) {
    throw invalid('deadline_unix_ms', `must be within ${limits.maxRoundDurationMs} ms from now`);
  }
  if (!(config.kind in RoundKind)) throw invalid('kind', 'is unknown');
  if (isVoteRound(config)) {
    checkVoteConfig(config);
  } else {
    if (config.votes) throw invalid('votes', 'is only for vote rounds (kind ROUND_KIND_VOTES)');
    if (!Number.isFinite(config.clipNorm) || config.clipNorm <= 0) throw invalid('clip_norm', 'must be finite and > 0');
    if (!Number.isFinite(config.noiseMultiplier) || config.noiseMultiplier < 0) {
      throw invalid('noise_multiplier', 'must be finite and >= 0');
    }
    if (config.noiseMultiplier === 0 && !config.unsafeDisableNoise) {
      throw invalid('noise_multiplier', 'must be > 0 (0 only with unsafe_disable_noise)');
    }
  }
  if (config.privacyGroup !== '' && !PRIVACY_GROUP.test(config.privacyGroup)) {
    throw invalid('privacy_group', 'must be 1-64 characters of [A-Za-z0-9_.-]');
  }
  if (config.encoding !== Encoding.UNSPECIFIED && !(config.encoding in Encoding)) throw invalid('encoding', 'is unknown');
  if (!(config.samplingRate >= 0 && config.samplingRate <= 1)) throw invalid('sampling_rate', 'must be in (0, 1] (0 = unset = 1)');
  if (config.keyholders) checkCommittee(config.keyholders.count, config.keyholders.threshold, 'config.keyholders');
  return config;
}

/** Largest keyholder committee: each keyholder adds a share round trip to every round and its noise to every release. */
export const MAX_KEYHOLDERS = 16;

/** Throws INVALID_ARGUMENT unless 2 <= threshold <= count <= MAX_KEYHOLDERS (issue 16). */
export function checkCommittee(count: number, threshold: number, what: string): void {
  if (!Number.isInteger(count) || count < 2 || count > MAX_KEYHOLDERS) {
    throw refuse('bad_round_config', `${what}.count ${count} must be 2..${MAX_KEYHOLDERS}`);
  }
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > count) {
    throw refuse('bad_round_config', `${what}.threshold ${threshold} must be 2..count (${count})`);
  }
}

/**
 * The largest |value| one client can put in a coordinate: the clip norm of a
 * gradient round (L2 <= C bounds every coordinate), 1 for a vote round. The
 * encoding scale is chosen from it so that no sum can wrap.
 */
export function coordinateBoundOf(config: RoundConfig): number {
  return isVoteRound(config) ? VOTE_VALUE_BOUND : config.clipNorm;
}

/** The round's Poisson sampling rate q (unset, i.e. 0, means 1: every client is admitted). */
export function samplingRateOf(config: RoundConfig): number {
  return config.samplingRate === 0 ? 1 : config.samplingRate;
}

/** The privacy group a round charges ("default" when unset). */
export function privacyGroupOf(config: RoundConfig): string {
  return config.privacyGroup === '' ? 'default' : config.privacyGroup;
}
