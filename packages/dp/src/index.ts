/**
 * @secagg/dp — differential privacy for the secagg release path.
 *
 * - Exact discrete Gaussian noise (Canonne, Kamath, Steinke 2020) with integer
 *   arithmetic only: {@link addDiscreteGaussianNoise}, {@link DiscreteGaussianSampler}.
 * - RDP accounting of the (Poisson-subsampled) Gaussian mechanism (Mironov,
 *   Talwar, Zhang 2019) with the classic and improved conversions to (ε, δ).
 * - PLD accounting of the same mechanism (Google dp-accounting; pessimistic
 *   connect-the-dots discretisation, Doroshenko et al. 2022; FFT composition):
 *   a tighter ε that is still an upper bound.
 * - zCDP of the discrete Gaussian, the analytic Gaussian mechanism (Balle &
 *   Wang 2018), and noise calibration (the `secagg privacy` calculator of
 *   packages/cli is built on these).
 *
 * Pure library: no I/O.
 *
 * @packageDocumentation
 */

export type { RandomSource } from './rng.js';
export { cryptoRandomSource, seededRandomSource } from './rng.js';
export type { Rational } from './rational.js';
export { rationalFromNumber, roundUpDyadic } from './rational.js';
export { sampleBernoulliExp, sampleDiscreteLaplace } from './bernoulli-exp.js';
export type { DiscreteGaussianPlan } from './discrete-gaussian.js';
export {
  DiscreteGaussianSampler,
  planDiscreteGaussian,
  sampleDiscreteGaussian,
  sampleDiscreteGaussianReference,
} from './discrete-gaussian.js';
export { addDiscreteGaussianNoise, gridVariance, roundedL2Sensitivity } from './release.js';
export { erf, erfc, erfcx, logErfc, logNormalCdf, normalCdf } from './special-functions.js';
export { DEFAULT_RDP_ORDERS, OPACUS_RDP_ORDERS } from './orders.js';
export type { FractionalSeries, RoundSpec } from './rdp.js';
export { composeRdp, rdpGaussian, rdpSampledGaussian } from './rdp.js';
export type { AccountingOptions, Conversion } from './conversion.js';
export { computeDelta, computeEpsilon, deltaFromRdp, epsilonFromRdp } from './conversion.js';
export { deltaFromZcdp, epsilonFromZcdp, zcdpDiscreteGaussian } from './zcdp.js';
export { analyticGaussianDelta, analyticGaussianSigma } from './analytic-gaussian.js';
export type { Accountant, PldOptions } from './pld.js';
export {
  DEFAULT_PLD_DISCRETIZATION_INTERVAL,
  DEFAULT_PLD_MAX_GRID_POINTS,
  DEFAULT_PLD_TAIL_MASS_TRUNCATION,
  PrivacyLossDistribution,
  composePld,
  computeDeltaPld,
  computeEpsilonPld,
} from './pld.js';
export type { CalibrationOptions, CalibrationTarget } from './calibrate.js';
export { calibrateNoiseMultiplier } from './calibrate.js';
export type { VoteAdjacency, VoteMechanismName, VoteReleaseSpec, VoteShapeName } from './pate.js';
export {
  computeVoteEpsilon,
  PATE_2018_ORDERS,
  rdpVoteRelease,
  TOP_COUNT_SENSITIVITY,
  voteHistogramSensitivity,
  voteNoiseMultiplier,
  voteRdpCoefficient,
} from './pate.js';
