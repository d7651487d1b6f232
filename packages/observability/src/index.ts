export * from './health.js';
export * from './reflection.js';
export * from './metrics.js';
export { probe } from './probe.js';
