export * from './ids.js';
export * from './round-config.js';
export * from './vote-config.js';
export * from './digests.js';
export * from './float64.js';
export * from "./ckks-params.js";
export * from './round-attestation.js';
export * from './message-limits.js';
