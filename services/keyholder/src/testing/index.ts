/**
 * `@secagg/keyholder/testing`: the keyholder's handlers in process, for its
 * own tests and for tools (the release-memory benchmark). Not part of the
 * service: main.ts never imports it.
 */
export { gatherRelease, KeyholderHarness, ONE_CONTRIBUTOR_DIGEST, releaseFrames, streamOf } from './handler-harness.js';
export type { GatheredRelease, KeyholderHarnessOptions } from './handler-harness.js';
export type { KeyholderContext } from '../keyholder-context.js';
export { createRoundKey } from '../handlers/create-round-key.js';
export { releaseRound } from '../handlers/release-round.js';
