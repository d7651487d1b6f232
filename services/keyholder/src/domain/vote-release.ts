/**
 * The vote mechanisms applied to a decrypted vote histogram IN PLACE, in the
 * release order of docs/PRIVACY.md §4 (this runs at its step 5-6, after the
 * charge): noise first, then the range check on the NOISED counts, then
 * post-processing of the noised values only.
 *
 *  - Confident-GNMax: each query's top count is copied, noised with σ₁ and
 *    compared with T (the noise-free top counts are overwritten by their
 *    noised values before anything compares them);
 *  - every count is noised with σ₂ (noise.ts applyNoiseInPlace; the
 *    noise-free histogram is overwritten, never copied);
 *  - the range check (release-policy.ts noisedVoteBounds) on those counts;
 *  - GNMax / Confident-GNMax: each released row becomes the one-hot of its
 *    noisy argmax (ties to the lowest class), an abstained row all zeros; the
 *    noisy counts themselves are overwritten. A noisy histogram is released as is.
 *
 * A test-only noise-free round runs the same steps with σ = 0.
 */
import type { RandomSource } from '@secagg/dp';
import { applyNoiseInPlace } from './noise.js';
import { noisedVoteBounds, votesWithinRange } from './release-policy.js';
import type { VotePlan } from './vote-plan.js';

export interface VoteOutcome {
  /** Queries given a label (GNMax: all; Confident-GNMax: top count over the threshold; histogram: 0). */
  answered: number;
  /** Queries abstained (Confident-GNMax only). */
  abstained: number;
}

/**
 * Applies the plan's mechanism to `histogram` (Q × K, query-major) of
 * `contributions` teachers, in place. Returns the outcome, or undefined when
 * the noised counts are out of range (the caller refuses; `histogram` is
 * then zeroed). `errorPerValue` is the CKKS decryption-error bound.
 */
export function applyVoteMechanism(
  histogram: Float64Array,
  plan: VotePlan,
  contributions: number,
  errorPerValue: number,
  rng?: RandomSource,
): VoteOutcome | undefined {
  const { queries, classes } = plan;
  if (histogram.length !== queries * classes) throw new RangeError(`histogram has ${histogram.length} values, expected ${queries}x${classes}`);
  let answered: Uint8Array | undefined;
  if (plan.mechanism === 'confident-gnmax') {
    const top = new Float64Array(queries);
    for (let q = 0; q < queries; q++) top[q] = rowMax(histogram, q * classes, classes);
    applyNoiseInPlace(top, plan.thresholdNoise, rng);
    answered = new Uint8Array(queries);
    for (let q = 0; q < queries; q++) answered[q] = top[q]! >= plan.threshold ? 1 : 0;
    top.fill(0);
  }
  applyNoiseInPlace(histogram, plan.countNoise, rng);
  if (!votesWithinRange(histogram, noisedVoteBounds(plan, contributions, errorPerValue), classes)) {
    histogram.fill(0);
    return undefined;
  }
  if (plan.mechanism === 'noisy-histogram') return { answered: 0, abstained: 0 };
  let labelled = 0;
  for (let q = 0; q < queries; q++) {
    const start = q * classes;
    const label = answered && answered[q] === 0 ? -1 : rowArgmax(histogram, start, classes);
    histogram.fill(0, start, start + classes);
    if (label >= 0) {
      histogram[start + label] = 1;
      labelled++;
    }
  }
  return { answered: labelled, abstained: queries - labelled };
}

function rowMax(values: Float64Array, start: number, length: number): number {
  let max = -Infinity;
  for (let i = start; i < start + length; i++) if (values[i]! > max) max = values[i]!;
  return max;
}

/** Index within the row of its largest value; the lowest index among ties. */
function rowArgmax(values: Float64Array, start: number, length: number): number {
  let best = 0;
  for (let c = 1; c < length; c++) if (values[start + c]! > values[start + best]!) best = c;
  return best;
}
