/**
 * The in-process fuzz property behind "SEAL never throws on client bytes":
 * for every mutation of a valid ciphertext, `validateCiphertext` gives the
 * verdict the independent oracle expects, never throws, and
 *  - what it accepts, SEAL loads and decrypts without throwing;
 *  - what it refuses never reaches SEAL (the decryptor validates first and
 *    answers `invalid_ciphertext`, not `seal_error`).
 * Cheap (no processes), so it carries most of the fuzz case budget.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CkksEngine, CkksError, DEFAULT_PRESET, validateCiphertext, valuesPerCiphertext, type CkksDecryptor, type CkksParams } from '@secagg/ckks';
import { mutatedCiphertext, type CiphertextPool, type Mutated } from './ciphertext-mutations.js';

/** One round format under test: its pool of ciphertexts and a decryptor of its key. */
export interface ValidatorTarget {
  name: string;
  /** Relative share of the cases (SEAL work per case grows with N). */
  weight: number;
  pool: CiphertextPool;
  decryptor: CkksDecryptor;
  valuesPerCiphertext: number;
}

export interface ValidatorTargets {
  targets: ValidatorTarget[];
  dispose(): void;
}

/** The formats fuzzed: the default (a data prime plus a special prime), the test preset, both encodings, and a multi-prime chain. */
export const VALIDATOR_PARAMS: readonly { params: CkksParams; weight: number }[] = [
  { params: { preset: DEFAULT_PRESET, encoding: 'coefficients', scaleBits: 40 }, weight: 3 },
  { params: { preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 }, weight: 3 },
  { params: { preset: 'n4096-q54', encoding: 'slots', scaleBits: 40 }, weight: 2 },
  { params: { preset: 'n4096-q54', encoding: 'coefficients', scaleBits: 40 }, weight: 1 },
  { params: { preset: 'n8192-q60x4', encoding: 'slots', scaleBits: 40 }, weight: 1 },
];

const sample = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i) * 0.5);

/** Engines, keys and ciphertext pools for every format in {@link VALIDATOR_PARAMS}. */
export async function buildValidatorTargets(): Promise<ValidatorTargets> {
  const engines: CkksEngine[] = [];
  const made: { params: CkksParams; engine: CkksEngine; valid: Uint8Array[]; otherKey: Uint8Array[]; decryptor: CkksDecryptor }[] = [];
  for (const { params } of VALIDATOR_PARAMS) {
    const engine = await CkksEngine.create(params);
    engines.push(engine);
    const keys = engine.generateKeyPair();
    const encryptor = engine.createEncryptor(keys.publicKey);
    const stranger = engine.createEncryptor(engine.generateKeyPair().publicKey);
    const per = valuesPerCiphertext(params);
    made.push({
      params,
      engine,
      valid: [1, 2, 3].map((s) => encryptor.encrypt(sample(per, s))),
      otherKey: [4, 5].map((s) => stranger.encrypt(sample(per, s))),
      decryptor: engine.createDecryptor(keys.secretKey),
    });
  }
  // The same preset at another scale: a different header, so it must be refused.
  const lowScale = await CkksEngine.create({ preset: 'n4096-q54', encoding: 'slots', scaleBits: 30 });
  engines.push(lowScale);
  const lowScaleCiphertext = lowScale.createEncryptor(lowScale.generateKeyPair().publicKey).encrypt(sample(2048, 9));

  const targets = made.map(({ params, engine, valid, otherKey, decryptor }, i): ValidatorTarget => {
    const format = engine.format;
    // Ciphertexts of the other formats: refused unless byte-for-byte the same layout
    // (slots and coefficients of one preset share it: well-formed garbage, like another key).
    const others = [...made.filter((_, j) => j !== i).flatMap((m) => m.valid.slice(0, 1)), lowScaleCiphertext];
    const sameLayout = (bytes: Uint8Array) =>
      bytes.length === format.byteLength && Buffer.from(bytes.subarray(0, format.dataOffset)).toString('hex') === format.headerHex;
    return {
      name: `${params.preset}/${params.encoding}`,
      weight: VALIDATOR_PARAMS[i]!.weight,
      pool: {
        format,
        valid,
        otherKey: [...otherKey, ...others.filter(sameLayout)],
        otherParameters: others.filter((b) => !sameLayout(b)),
      },
      decryptor,
      valuesPerCiphertext: valuesPerCiphertext(params),
    };
  });
  return { targets, dispose: () => engines.forEach((e) => e.dispose()) };
}

/** Counts of what a run exercised, by target and mutation kind. */
export interface ValidatorStats {
  cases: number;
  accepted: number;
  refused: number;
  byKind: Record<string, number>;
}

/** Checks the property on `numRuns` mutated ciphertexts; throws (with fast-check's seed and path) on a counterexample. */
export function runValidatorProperty(targets: readonly ValidatorTarget[], settings: { numRuns: number; seed: number }): ValidatorStats {
  const stats: ValidatorStats = { cases: 0, accepted: 0, refused: 0, byKind: {} };
  const arbitrary = fc.oneof(
    ...targets.map((target) => ({ arbitrary: mutatedCiphertext(target.pool).map((m): [ValidatorTarget, Mutated] => [target, m]), weight: target.weight })),
  );
  fc.assert(
    fc.property(arbitrary, ([target, mutated]) => {
      const verdict = validateCiphertext(target.pool.format, mutated.bytes);
      const reason = verdict.ok ? '' : verdict.reason;
      assert.equal(verdict.ok ? 'accept' : 'reject', mutated.expected, `${target.name} ${mutated.kind}: validator said ${verdict.ok ? 'ok' : reason}`);
      if (verdict.ok) {
        // SEAL loads and decrypts whatever passed validation, without throwing.
        assert.equal(target.decryptor.decrypt(mutated.bytes).length, target.valuesPerCiphertext);
        stats.accepted++;
      } else {
        assert.ok(reason.length > 0 && reason.length <= 120, `reason ${JSON.stringify(reason)}`);
        // Refused bytes never reach SEAL: the decryptor's own validation stops them first.
        assert.throws(
          () => target.decryptor.decrypt(mutated.bytes),
          (e: unknown) => e instanceof CkksError && e.code === 'invalid_ciphertext',
        );
        stats.refused++;
      }
      stats.cases++;
      const key = `${target.name} ${mutated.kind}`;
      stats.byKind[key] = (stats.byKind[key] ?? 0) + 1;
    }),
    { numRuns: settings.numRuns, seed: settings.seed },
  );
  return stats;
}
