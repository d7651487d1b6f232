export * from './keys.js';
export * from './round-store.js';
