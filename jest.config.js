/**
 * jest runs the tsc-compiled tests (`<workspace>/dist/**\/*.test.js`) as native ES modules, untransformed.
 *
 * Why dist and not the TypeScript sources (ts-jest): `npm test` builds with `tsc --build` anyway (the
 * integration tests start the services from their dist), so tests and the code under test are the same
 * modules the services run; a test importing `./x.js` and a package importing `@secagg/y` resolve to the
 * one dist copy (ts-jest would load sources for one and dist for the other: two instances of a class,
 * `instanceof` false); and nothing is compiled twice. node-seal is ESM-only, so jest runs under
 * `node --experimental-vm-modules` (the `jest` script in the root package.json).
 *
 * A workspace's `npm test` uses this file with `--rootDir .` (see each workspace's package.json).
 * @type {import('jest').Config}
 */
import { fileURLToPath } from 'node:url';

export default {
  testEnvironment: 'node',
  transform: {},
  testMatch: ['<rootDir>/**/dist/**/*.test.js'],
  testPathIgnorePatterns: ['/node_modules/'],
  // jest gives each test file a realm of its own, so node's deepStrictEqual would tell an array from
  // readdirSync (main realm) from an equal literal: jest/realm-safe-assert.js says why and what it changes.
  moduleNameMapper: {
    '^node:assert/strict$': fileURLToPath(new URL('./jest/realm-safe-assert.js', import.meta.url)),
  },
  // Integration tests start real clusters (Redis, keyholders, gateways, aggregators) and take minutes;
  // a test or suite that wants a tighter bound passes its own (the converted node:test suite timeouts).
  testTimeout: 600_000,
  // Files run one after another in one process (`--runInBand` in the scripts); within a file, jest runs
  // tests in order. The machine has 2 cores, shared with the processes the tests start.
  maxWorkers: 1,
  // Name every test as it runs: a minutes-long integration run shows where it is.
  verbose: true,
};
