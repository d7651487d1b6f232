export * from './keys.js';
export * from './round-store.js';
export * from './range-progress.js';
export * from './staging-budget.js';
export * from './redis-errors.js';
export * from './redis-persistence.js';
