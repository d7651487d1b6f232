export * from './clip.js';
export * from './client.js';
export * from './vector-io.js';
export * from './votes.js';
export * from './encryption-pool.js';
export { PinnedKeyholderKeys, RoundVerificationError, type VerifiedRound } from '@secagg/protocol';
export * from './adaptive-clipping.js';
