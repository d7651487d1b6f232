/** The example's two configurations. */
import type { ExperimentOptions } from './experiment.js';

/** The full run: minutes on two shared cores. */
export const FULL: Omit<ExperimentOptions, 'log'> = {
  cutoffYear: 1946,
  heldOutEvery: 4,
  speechesPerClient: 1,
  maxClients: 0,
  context: 8,
  embedding: 12,
  hidden: 96,
  pretrainSteps: 3000,
  pretrainBatch: 64,
  pretrainLearningRate: 3e-3,
  loraRank: 2,
  rounds: 10,
  localSteps: 20,
  localBatch: 32,
  localLearningRate: 1,
  serverLearningRate: 1,
  serverMomentum: 0,
  clipNorm: 1,
  epsilons: [2, 8, 32],
  delta: 1e-5,
  samplingRate: 1,
  adaptiveEpsilon: 8,
  adaptiveQuantile: 0.5,
  adaptiveLearningRate: 0.2,
  evalPositions: 20_000,
  seed: 1,
};

/** --quick (CI): a smaller model, a few clients and rounds; seconds of training. */
export const QUICK: Omit<ExperimentOptions, 'log'> = {
  ...FULL,
  maxClients: 6,
  context: 6,
  embedding: 8,
  hidden: 32,
  pretrainSteps: 600,
  rounds: 3,
  localSteps: 10,
  epsilons: [8],
  adaptiveEpsilon: 8,
  evalPositions: 4_000,
};
