export * from './corpus.js';
export * from './model.js';
export * from './experiment.js';
export * from './presets.js';
export * from './report.js';
export * from './svg-plot.js';
export { SeededRandom } from './random.js';
