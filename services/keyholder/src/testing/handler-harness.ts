/**
 * The keyholder's handlers in process, for tests and benchmarks: the context
 * main.ts would build (real SQLite KeyStore, real KEK sealing, real SEAL
 * engines, a fresh signing key, a silent logger), over a data directory of
 * its own, and the frames an aggregator would stream to ReleaseRound.
 *
 * One harness instead of a copy of this wiring in each handler test (issue 13
 * item 6); exported as `@secagg/keyholder/testing`, never from the service.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { createLogger } from '@secagg/core';
import { bytesToFloat64, contributorsDigest, RoundSigner } from '@secagg/protocol';
import { Encoding, ReleaseRoundRequestSchema, type ReleaseRoundRequest, type ReleaseRoundResponse, type ResultHeader } from '@secagg/proto';
import { keyholderConfigSchema, type KeyholderConfig } from '../config.js';
import { EngineCache } from '../domain/engines.js';
import { KeyStore } from '../domain/key-store.js';
import { KeySealer } from '../domain/sealing.js';
import type { KeyholderContext } from '../keyholder-context.js';

export interface KeyholderHarnessOptions {
  /** The data directory; a fresh temporary one (removed by `close`) when absent. */
  dataDir?: string;
  /** Prefix of the temporary data directory's name. */
  name?: string;
  /** Base64 key-encryption key; a random one when absent (pass it to reopen the same store in another process). */
  kek?: string;
  /** Configuration input over the schema's defaults, as the environment would give it (e.g. `{ minClientsFloor: 2 }`). */
  config?: Record<string, unknown>;
  /** Wraps the sealer, e.g. to capture the secret keys a test decrypts with for its own reference. */
  wrapSealer?: (sealer: KeySealer) => KeySealer;
}

/** A keyholder's handler context over its own store; `close` frees it. */
export class KeyholderHarness {
  readonly dataDir: string;
  readonly kek: string;
  readonly deps: KeyholderContext;
  readonly #ownsDir: boolean;

  private constructor(options: KeyholderHarnessOptions) {
    this.#ownsDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `${options.name ?? 'keyholder-test'}-`));
    this.kek = options.kek ?? randomBytes(32).toString('base64');
    const config = keyholderConfigSchema.parse({ ...options.config, dataDir: this.dataDir, kek: this.kek });
    const sealer = KeySealer.fromBase64(this.kek);
    this.deps = {
      config,
      store: new KeyStore(this.dataDir),
      sealer: options.wrapSealer ? options.wrapSealer(sealer) : sealer,
      engines: new EngineCache(),
      signer: RoundSigner.generate(),
      logger: createLogger('keyholder-test', 'silent'),
      clock: Date.now,
      defaultEncoding: Encoding.COEFFICIENTS,
    };
  }

  static open(options: KeyholderHarnessOptions = {}): KeyholderHarness {
    return new KeyholderHarness(options);
  }

  /** The same keyholder (store, sealer, engines, signer) under other configuration values. */
  context(overrides: Partial<KeyholderConfig> = {}): KeyholderContext {
    return { ...this.deps, config: { ...this.deps.config, ...overrides } };
  }

  /** Closes the store and the SEAL engines; removes the data directory if the harness made it. */
  async close(): Promise<void> {
    this.deps.store.close();
    await this.deps.engines.dispose();
    if (this.#ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The contributors digest the release frames carry unless told otherwise: one contribution `a`/`u`. */
export const ONE_CONTRIBUTOR_DIGEST = contributorsDigest([{ clientId: 'a', updateId: 'u' }]);

/**
 * What an aggregator streams to ReleaseRound: the header, then each
 * ciphertext of the encrypted sum in order. `ciphertextCount` defaults to the
 * ciphertexts given (state it to test a header that promises more).
 */
export function releaseFrames(
  roundId: string,
  contributionCount: number,
  ciphertexts: readonly Uint8Array[],
  options: { contributorsSha256?: Uint8Array; ciphertextCount?: number } = {},
): ReleaseRoundRequest[] {
  const header = create(ReleaseRoundRequestSchema, {
    frame: {
      case: 'header',
      value: {
        roundId,
        contributionCount,
        contributorsSha256: options.contributorsSha256 ?? ONE_CONTRIBUTOR_DIGEST,
        ciphertextCount: options.ciphertextCount ?? ciphertexts.length,
      },
    },
  });
  const chunks = ciphertexts.map((ciphertext, index) => create(ReleaseRoundRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } }));
  return [header, ...chunks];
}

/** `items` as the async stream a handler reads. */
export async function* streamOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** A ReleaseRound response stream gathered: its header, the values in order, and each values message's offset. */
export interface GatheredRelease {
  header: ResultHeader;
  values: Float64Array;
  offsets: number[];
}

/** Reads a ReleaseRound response stream to its end. */
export async function gatherRelease(stream: AsyncIterable<ReleaseRoundResponse>): Promise<GatheredRelease> {
  let header: ResultHeader | undefined;
  const runs: Float64Array[] = [];
  const offsets: number[] = [];
  for await (const response of stream) {
    if (response.frame.case === 'header') header = response.frame.value;
    if (response.frame.case === 'values') {
      offsets.push(response.frame.value.offset);
      runs.push(bytesToFloat64(response.frame.value.sumF64le).slice());
    }
  }
  if (!header) throw new Error('the release stream carried no header');
  const values = new Float64Array(runs.reduce((n, run) => n + run.length, 0));
  let at = 0;
  for (const run of runs) {
    values.set(run, at);
    at += run.length;
  }
  return { header, values, offsets };
}
