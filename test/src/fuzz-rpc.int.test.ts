/**
 * Fuzz, over the wire: random and mutated protobuf messages for every RPC,
 * broken and honest update streams (out of order, duplicated, cut, never
 * finished), garbage frames and mutated release streams, against a real
 * cluster (see fuzz/rpc-fuzz.ts for the properties and their invariants).
 * With fuzz-ciphertexts.test.ts this is the CI fuzz budget; `npm run fuzz --
 * --cases N --seed S` runs the same properties longer. Replay a CI run with
 * SECAGG_FUZZ_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Code } from '@secagg/core';
import { ClientService, CoordinatorService, KeyholderService } from '@secagg/proto';
import { checkAftermath, FUZZ_IDLE_TIMEOUT_MS, fuzzGarbageFrames, fuzzReleases, fuzzStreams, fuzzUnary, startFuzzCluster, type FuzzCluster, type FuzzStats } from './fuzz/rpc-fuzz.js';
import { bearer, describeOutcome } from './fuzz/raw-client.js';
import { honestFrames, serialize } from './fuzz/update-frames.js';
import { fuzzSeed, seedFor } from './fuzz/settings.js';

/** Cases of each property in CI. */
export const RPC_CASES = { unary: 600, streams: 300, garbageFrames: 150, releases: 150 } as const;

describe('fuzz: every RPC of a real cluster', () => {
  let fuzz: FuzzCluster;
  const seed = fuzzSeed();
  const stats: FuzzStats = {};
  beforeAll(async () => {
    console.log(`fuzz-rpc: seed ${seed}`);
    fuzz = await startFuzzCluster();
  });
  afterAll(async () => {
    console.log(`fuzz-rpc: seed ${seed}, outcomes ${JSON.stringify(stats)}`);
    await fuzz?.dispose();
  });

  it('regression: a request that does not parse is INVALID_ARGUMENT on every RPC of every service, never INTERNAL', async () => {
    const garbage = [Uint8Array.of(0xff)];
    for (const service of [ClientService, CoordinatorService, KeyholderService]) {
      for (const method of service.methods) {
        const role = service === ClientService ? 'client' : 'coordinator';
        const outcome =
          service === KeyholderService
            ? method.methodKind === 'unary'
              ? await fuzz.keyholderAsGateway.unary(method, garbage[0]!, bearer(undefined))
              : await fuzz.keyholderAsAggregator.bidiStream(method, garbage, bearer(undefined))
            : method.methodKind === 'unary'
              ? await fuzz.gateway.unary(method, garbage[0]!, bearer(await fuzz.token(role)))
              : method.methodKind === 'server_streaming'
                ? await fuzz.gateway.serverStream(method, garbage[0]!, bearer(await fuzz.token(role)))
                : await fuzz.gateway.clientStream(method, garbage, bearer(await fuzz.token(role)), { kind: 'half-close' });
        assert.equal(outcome.code, Code.InvalidArgument, `${service.name}.${method.name}: ${describeOutcome(outcome)}`);
        assert.match(outcome.details, /^malformed secagg\./);
      }
    }
  });

  it('regression: an upload that goes quiet is ended by the gateway after its idle timeout, and frees its client', async () => {
    const { honest } = fuzz;
    const frames = honestFrames(honest, 'quiet', honest.updates[0]!).map(serialize);
    const token = await fuzz.token('client');
    // More quiet uploads than the client may hold at once (maxStreamsPerClient): each must be let go.
    for (const cut of [1, 2, frames.length]) {
      const started = performance.now();
      const outcome = await fuzz.gateway.clientStream(ClientService.method.submitUpdate, frames.slice(0, cut), bearer(token), { kind: 'idle' }, 20_000);
      assert.equal(outcome.code, Code.DeadlineExceeded, describeOutcome(outcome));
      assert.match(outcome.details, new RegExp(`no frame received for ${FUZZ_IDLE_TIMEOUT_MS} ms`), 'ended by the gateway, not by the client deadline');
      assert.ok(performance.now() - started < 15_000);
    }
    const done = await fuzz.gateway.clientStream(ClientService.method.submitUpdate, frames, bearer(token), { kind: 'half-close' });
    assert.equal(done.code, Code.Ok, describeOutcome(done));
    honest.committed.push(honest.values[0]!);
  });

  it(`${RPC_CASES.unary} random and mutated requests: only documented statuses, never UNKNOWN or INTERNAL`, async () => {
    console.log(`fuzz seed ${seed}`);
    await fuzzUnary(fuzz, { numRuns: RPC_CASES.unary, seed: seedFor(seed, 'unary') }, stats);
  });

  it(`${RPC_CASES.streams} upload streams, honest or broken: exactly the status the contract demands`, async () => {
    await fuzzStreams(fuzz, { numRuns: RPC_CASES.streams, seed: seedFor(seed, 'streams') }, stats);
    assert.ok(fuzz.honest.committed.length > 0, 'no honest stream was generated');
    const broken = Object.entries(stats)
      .filter(([k]) => k.startsWith('SubmitUpdate '))
      .flatMap(([, v]) => Object.entries(v))
      .filter(([code]) => code !== 'OK')
      .reduce((n, [, c]) => n + c, 0);
    assert.ok(broken > RPC_CASES.streams / 2, `only ${broken} broken streams`);
  });

  it(`${RPC_CASES.garbageFrames} garbage update frames: documented statuses only`, async () => {
    await fuzzGarbageFrames(fuzz, { numRuns: RPC_CASES.garbageFrames, seed: seedFor(seed, 'garbage') }, stats);
  });

  it(`${RPC_CASES.releases} mutated release streams into the keyholder: documented statuses only`, async () => {
    await fuzzReleases(fuzz, { numRuns: RPC_CASES.releases, seed: seedFor(seed, 'releases') }, stats);
  });

  it('afterwards: all processes up, honest requests work, the honest sum is exact, nothing staged, no error logged, SEAL never threw', async () => {
    const { honestCommitted, garbage } = await checkAftermath(fuzz);
    console.log(`${honestCommitted} fuzzed honest streams committed; garbage round ${garbage}`);
  });
});
