/**
 * Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially
 * private learning with adaptive clipping", Alg. 1): the clip norm C of round
 * t+1 follows a target quantile γ of the clients' update norms, estimated
 * privately in the same release as the update — no keyholder change.
 *
 * How it rides on an ordinary round:
 * - **Client** ({@link augmentWithClipIndicator}): clips its update Δ to C and
 *   appends one coordinate, s·b with b = [‖Δ‖ ≤ C] ∈ {0, 1}. The augmented
 *   vector (length d+1) has L2 norm ≤ √(C² + s²) = C_aug, the round's declared
 *   `clip_norm`; the SDK's own clip to C_aug then changes nothing.
 * - **Keyholder** (unchanged): adds σ = z·C_aug to every coordinate of the sum
 *   and charges the ledger for one Gaussian release of sensitivity C_aug at
 *   multiplier z — the indicator is inside that accounting, not beside it.
 * - **Coordinator** ({@link AdaptiveClipping.update}): reads the last
 *   coordinate of the noisy sum: Σb + N(0, σ_b²) after dividing by s, where
 *   σ_b = σ/s is the effective noise on the count. b̄ = noisy count / expected
 *   number of clients; C ← C·exp(−η(b̄ − γ)) (geometric update, Andrew et al. §3).
 *
 * Choosing s: the coordinator fixes the noise it wants on the count, σ_b (the
 * paper suggests about expected clients / 20), and s = z·C / √(σ_b² − z²),
 * which needs σ_b > z. Then the update part carries noise σ = z·C_aug, i.e. an
 * effective multiplier on Δ of z_Δ = σ/C = (z⁻² − σ_b⁻²)^(−1/2) — exactly the
 * split of the paper's Theorem 1 (their 2σ_b is for b − ½, sensitivity ½; ours
 * is b with sensitivity s). So for a budget that fixes z, the update's noise
 * multiplier rises from z to z_Δ: the price of the private quantile estimate.
 * With σ_b = n/20 and z = 1, n = 60: z_Δ = 1.06.
 *
 * The update of C is post-processing of the release: it costs no budget.
 */

export interface AdaptiveClippingOptions {
  /** Clip norm of the first round, C₀ > 0. */
  initialClipNorm: number;
  /** Target quantile γ ∈ (0, 1) of the client update norms (the paper's default 0.5). */
  targetQuantile: number;
  /** Geometric learning rate η > 0 (the paper uses 0.2). */
  learningRate: number;
  /**
   * Standard deviation σ_b of the noise on the count of clients below C, in
   * clients (the paper: expected clients / 20). Must exceed the round's noise
   * multiplier z. Ignored for noise-free rounds (z = 0), where s = C.
   */
  countNoiseStd: number;
  /** C never leaves [minClipNorm, maxClipNorm] (defaults 1e-6, 1e6). */
  minClipNorm?: number;
  maxClipNorm?: number;
}

/** What one round needs: the clip norm of the update, the indicator's scale, and the round's declared clip norm. */
export interface ClipRoundParameters {
  /** C: each client clips its update Δ to this L2 norm. */
  updateClipNorm: number;
  /** s: the indicator coordinate is s·[‖Δ‖ ≤ C]. */
  indicatorScale: number;
  /** C_aug = √(C² + s²): the round's `clip_norm` (the keyholder's sensitivity). */
  roundClipNorm: number;
  /** z_Δ = σ / C: the noise multiplier the update part effectively carries (∞ never; z when z = 0). */
  effectiveUpdateNoiseMultiplier: number;
}

function positiveFinite(name: string, v: number): void {
  if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a positive finite number, got ${v}`);
}

/** The parameters of a round with update clip norm C, noise multiplier z and count noise σ_b. */
export function clipRoundParameters(updateClipNorm: number, noiseMultiplier: number, countNoiseStd: number): ClipRoundParameters {
  positiveFinite('update clip norm', updateClipNorm);
  if (!(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier))) throw new RangeError(`noise multiplier must be finite and >= 0, got ${noiseMultiplier}`);
  if (noiseMultiplier === 0) {
    // Noise-free (test-only) rounds: any positive scale reads back exactly.
    return { updateClipNorm, indicatorScale: updateClipNorm, roundClipNorm: Math.SQRT2 * updateClipNorm, effectiveUpdateNoiseMultiplier: 0 };
  }
  positiveFinite('count noise std', countNoiseStd);
  if (!(countNoiseStd > noiseMultiplier)) {
    throw new RangeError(`count noise std (${countNoiseStd}) must exceed the noise multiplier (${noiseMultiplier}): the count's noise is z·C_aug/s >= z`);
  }
  const s = (noiseMultiplier * updateClipNorm) / Math.sqrt(countNoiseStd ** 2 - noiseMultiplier ** 2);
  const roundClipNorm = Math.hypot(updateClipNorm, s);
  return {
    updateClipNorm,
    indicatorScale: s,
    roundClipNorm,
    effectiveUpdateNoiseMultiplier: (noiseMultiplier * roundClipNorm) / updateClipNorm,
  };
}

/**
 * The same parameters recovered from what a client reads in the round's signed
 * statement — its `clip_norm` (C_aug) and `noise_multiplier` (z) — and the
 * training run's declared count noise σ_b: C_aug² = C²·σ_b²/(σ_b² − z²), so a
 * client needs no word from the coordinator beyond σ_b to know C and s.
 */
export function clipRoundParametersFromRound(roundClipNorm: number, noiseMultiplier: number, countNoiseStd: number): ClipRoundParameters {
  positiveFinite('round clip norm', roundClipNorm);
  if (noiseMultiplier === 0) return clipRoundParameters(roundClipNorm / Math.SQRT2, 0, countNoiseStd);
  positiveFinite('count noise std', countNoiseStd);
  if (!(countNoiseStd > noiseMultiplier)) {
    throw new RangeError(`count noise std (${countNoiseStd}) must exceed the noise multiplier (${noiseMultiplier}): the count's noise is z·C_aug/s >= z`);
  }
  return clipRoundParameters((roundClipNorm * Math.sqrt(countNoiseStd ** 2 - noiseMultiplier ** 2)) / countNoiseStd, noiseMultiplier, countNoiseStd);
}

/**
 * Client side: Δ clipped to C, followed by s·[‖Δ‖ ≤ C]. The result (length d+1)
 * has L2 norm ≤ C_aug, so it is what the client submits to a round whose
 * clip norm is `params.roundClipNorm` and whose vector length is d+1.
 */
export function augmentWithClipIndicator(update: ArrayLike<number>, params: ClipRoundParameters): { values: Float64Array; originalNorm: number; belowClipNorm: boolean } {
  let sumSquares = 0;
  for (let i = 0; i < update.length; i++) {
    const v = update[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`value ${i} is not finite`);
    sumSquares += v * v;
  }
  const originalNorm = Math.sqrt(sumSquares);
  const belowClipNorm = originalNorm <= params.updateClipNorm;
  // Slightly below C so float rounding can never leave the augmented norm above C_aug.
  const factor = belowClipNorm ? 1 : (params.updateClipNorm / originalNorm) * (1 - 1e-12);
  const values = new Float64Array(update.length + 1);
  for (let i = 0; i < update.length; i++) values[i] = update[i]! * factor;
  values[update.length] = belowClipNorm ? params.indicatorScale : 0;
  return { values, originalNorm, belowClipNorm };
}

/** Coordinator side: the released (noisy) sum of augmented vectors split into the update sum and the count below C. */
export function splitAugmentedSum(sum: ArrayLike<number>, params: ClipRoundParameters): { updateSum: Float64Array; noisyCountBelow: number } {
  if (sum.length < 1) throw new RangeError('the augmented sum has no indicator coordinate');
  return {
    updateSum: Float64Array.from({ length: sum.length - 1 }, (_, i) => sum[i]!),
    noisyCountBelow: sum[sum.length - 1]! / params.indicatorScale,
  };
}

/** The coordinator's state: the current C and its geometric update toward the target quantile. */
export class AdaptiveClipping {
  private clipNorm: number;
  private readonly min: number;
  private readonly max: number;

  constructor(private readonly options: AdaptiveClippingOptions) {
    positiveFinite('initial clip norm', options.initialClipNorm);
    if (!(options.targetQuantile > 0 && options.targetQuantile < 1)) throw new RangeError(`target quantile must be in (0, 1), got ${options.targetQuantile}`);
    positiveFinite('learning rate', options.learningRate);
    this.min = options.minClipNorm ?? 1e-6;
    this.max = options.maxClipNorm ?? 1e6;
    this.clipNorm = Math.min(this.max, Math.max(this.min, options.initialClipNorm));
  }

  /** C for the next round. */
  get currentClipNorm(): number {
    return this.clipNorm;
  }

  /** The next round's parameters at noise multiplier z. */
  roundParameters(noiseMultiplier: number): ClipRoundParameters {
    return clipRoundParameters(this.clipNorm, noiseMultiplier, this.options.countNoiseStd);
  }

  /**
   * After a release: b̄ = noisy count below C / `expectedClients` (the number of
   * contributions, or q·population under Poisson sampling, as the paper), then
   * C ← C·exp(−η(b̄ − γ)). Returns b̄ (unclamped; a noisy estimate can leave [0, 1]).
   */
  update(noisyCountBelow: number, expectedClients: number): number {
    positiveFinite('expected clients', expectedClients);
    if (!Number.isFinite(noisyCountBelow)) throw new RangeError(`noisy count must be finite, got ${noisyCountBelow}`);
    const fractionBelow = noisyCountBelow / expectedClients;
    const next = this.clipNorm * Math.exp(-this.options.learningRate * (fractionBelow - this.options.targetQuantile));
    this.clipNorm = Math.min(this.max, Math.max(this.min, next));
    return fractionBelow;
  }
}
