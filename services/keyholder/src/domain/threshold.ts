/**
 * Threshold keyholders (issue 16): the rules a committee keyholder applies on
 * its own, as verdicts the handlers act on (docs/SECURITY.md "Threshold
 * keyholders", docs/PRIVACY.md §4 and §5).
 *
 * - Membership. A keyholder is either the single keyholder or one member of
 *   one committee (its configuration); it serves only rounds of that kind, and
 *   only rounds whose committee is exactly its own. A committee member never
 *   creates a whole round key, so no one process can hold a round's s.
 * - Noise. Each keyholder adds the FULL σ = z·C to its own decryption share,
 *   so the release is DP as long as one keyholder is honest, whatever the
 *   others do (the alternative, σ/√n each — TFF's distributed discrete
 *   Gaussian — needs every keyholder honest). Cost: the released sum carries
 *   t independent noises (the t keyholders that answer), √t·σ per value
 *   (√3 ≈ 1.73 for three of three).
 *   The noise is a discrete Gaussian over the plaintext's integer
 *   coefficients (grid 2^-scaleBits): the encrypted sum is an integer
 *   polynomial, so the lattices agree and the CKS20 analysis applies as is
 *   (a coarser noise grid would leave the sum's value modulo the grid
 *   readable in the combined output). It goes on every coefficient, padding
 *   included: one left bare would show c₁·sᵢ plus the decryption error.
 * - Scale. The noise is inside the plaintext now, so the sum plus every
 *   keyholder's noise must not wrap: the scale is chosen as for max_clients
 *   + ⌈n·τ·z⌉ clients, τ the 2^-40 tail of one noise over every coefficient.
 */
import { refuse } from '@secagg/core';
import { chooseScaleBits, PRESETS, type Encoding, type PresetName } from '@secagg/ckks';
import { cryptoRandomSource, DiscreteGaussianSampler, gridVariance } from '@secagg/dp';
import type { RoundConfig, SignedDealingKey } from '@secagg/proto';
import type { KeyObject } from 'node:crypto';
import type { KeyholderConfig } from '../config.js';
import type { NoisePlan } from './noise.js';

/** This keyholder's committee, from its configuration; undefined for the single keyholder. */
export interface Committee {
  index: number;
  size: number;
  threshold: number;
}

export function committeeOf(settings: Pick<KeyholderConfig, 'committeeIndex' | 'committeeSize' | 'committeeThreshold'>): Committee | undefined {
  if (settings.committeeIndex === undefined || settings.committeeSize === undefined || settings.committeeThreshold === undefined) return undefined;
  return { index: settings.committeeIndex, size: settings.committeeSize, threshold: settings.committeeThreshold };
}

/** Refuses a single-keyholder call (CreateRoundKey, ReleaseRound) on a committee keyholder, or for a committee round. */
export function requireSingleKeyholder(config: RoundConfig, settings: KeyholderConfig): void {
  const own = committeeOf(settings);
  if (own) {
    throw refuse(
      'committee_keyholder',
      `this keyholder is keyholder ${own.index} of a committee of ${own.size} (threshold ${own.threshold}): it holds key shares only ` +
        '(CreateKeyShare, ReleaseShare), never a whole round key',
    );
  }
  if (config.keyholders) {
    throw refuse(
      'committee_round',
      'the round is shared by a keyholder committee: its key is in shares (CreateKeyShare, ReleaseShare)',
    );
  }
}

/** This keyholder's committee, refusing unless the round's committee is exactly it (and the round can be shared). */
export function requireCommitteeMember(config: RoundConfig, settings: KeyholderConfig, encoding: Encoding, isVoteRound: boolean): Committee {
  const own = committeeOf(settings);
  if (!own) {
    throw refuse('not_a_committee_keyholder', 'this keyholder is the single keyholder of its cluster, not a committee member');
  }
  const asked = config.keyholders;
  if (!asked || asked.count !== own.size || asked.threshold !== own.threshold) {
    throw refuse(
      'committee_mismatch',
      `the round's keyholder committee (${asked ? `${asked.threshold} of ${asked.count}` : 'none'}) is not this keyholder's ` +
        `(${own.threshold} of ${own.size})`,
    );
  }
  if (isVoteRound) {
    throw refuse('committee_vote_round', 'vote rounds are not supported with threshold keyholders');
  }
  if (encoding !== 'coefficients') {
    throw refuse('committee_encoding', 'threshold keyholders combine coefficient-encoded rounds only (encoding COEFFICIENTS)');
  }
  return own;
}

/** 2^-40 tail of one discrete Gaussian over `coefficients` values, in σ (sub-Gaussian, union bound). */
function noiseTail(coefficients: number): number {
  return Math.sqrt(2 * (Math.log(2 * Math.max(1, coefficients)) + 40 * Math.LN2));
}

/**
 * The encoding scale of a committee round: overflow-safe for the sum of
 * max_clients clipped updates plus `committee` noises of σ = z·C on every
 * coefficient, counted as ⌈n·τ·z⌉ more clients of norm C.
 */
export function committeeScaleBits(preset: PresetName, encoding: Encoding, config: RoundConfig, committee: number, ciphertexts: number): number {
  const coefficients = ciphertexts * PRESETS[preset].polyModulusDegree;
  const headroom = config.unsafeDisableNoise ? 0 : Math.ceil(committee * noiseTail(coefficients) * config.noiseMultiplier);
  return chooseScaleBits(preset, encoding, config.maxClients + headroom, config.clipNorm);
}

/**
 * Draws one share's noise: `n` exact discrete Gaussian samples over the
 * integers with standard deviation σ·2^scaleBits (the plan's σ on the grid
 * 2^-scaleBits), from the cryptographic RNG. Undefined for a noise-free plan.
 * The sampler works in bigint at these sizes (≈ 11 µs a value).
 */
export function shareNoiseSource(plan: NoisePlan, n: number): (() => BigInt64Array) | undefined {
  if (plan.sigma === 0) return undefined;
  const sampler = new DiscreteGaussianSampler(gridVariance(plan.sigma, plan.gridStep), cryptoRandomSource());
  return () => {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = sampler.sample();
    return out;
  };
}

/**
 * A t-of-n round's key dealing under way on this keyholder (memory only):
 * its X25519 dealing key, and once it has dealt, its own Shamir share f_i(i)
 * (a SEAL secret key), kept until AcceptKeyShares sums it with the others'.
 */
export interface KeyDealing {
  privateKey: KeyObject;
  signed: SignedDealingKey;
  ownShare?: Uint8Array;
  /** When CreateKeyShare made it, ms since the epoch (for keyDealingTimeoutMs). */
  createdMs: number;
}

/** Drops dealings older than `timeoutMs` (zeroing their shares); returns the round ids dropped. */
export function dropStaleDealings(dealings: Map<string, KeyDealing>, nowMs: number, timeoutMs: number): string[] {
  const dropped: string[] = [];
  for (const [roundId, dealing] of dealings) {
    if (nowMs - dealing.createdMs <= timeoutMs) continue;
    dealing.ownShare?.fill(0);
    dealings.delete(roundId);
    dropped.push(roundId);
  }
  return dropped;
}

/** Refuses a dealing call unless the round's committee is t-of-n with t < n. */
export function requireShamirCommittee(committee: Committee): void {
  if (committee.threshold < committee.size) return;
  throw refuse(
    'nothing_to_deal',
    `a ${committee.size}-of-${committee.size} committee holds additive shares: there is nothing to deal`,
  );
}

/**
 * Checks a release's decrypting set for this keyholder: empty for n-of-n;
 * for t-of-n exactly t distinct ascending indexes of the committee,
 * this keyholder's among them.
 */
export function checkDecryptingSet(set: readonly number[], committee: Committee): number[] {
  if (committee.threshold === committee.size) {
    if (set.length !== 0) throw refuse('bad_decrypting_set', 'an n-of-n release takes every keyholder: decrypting_keyholders must be empty');
    return [];
  }
  const ok =
    set.length === committee.threshold &&
    set.every((id, i) => Number.isInteger(id) && id >= 1 && id <= committee.size && (i === 0 || id > set[i - 1]!)) &&
    set.includes(committee.index);
  if (!ok) {
    throw refuse(
      'bad_decrypting_set',
      `decrypting_keyholders must be ${committee.threshold} distinct ascending indexes of 1..${committee.size} including this keyholder (${committee.index})`,
    );
  }
  return [...set];
}
