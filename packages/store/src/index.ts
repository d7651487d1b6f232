export * from './keys.js';
export * from './round-store.js';
export * from './range-progress.js';
