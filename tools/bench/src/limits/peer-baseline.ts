/**
 * The peer baseline that is not a product preset: NVIDIA FLARE's HE defaults
 * (through TenSEAL: CKKS, N = 8192, coeff_mod_bit_sizes [60, 40, 40], scale
 * 2^40, symmetric — secret-key — encryption, slot encoding) reproduced with
 * node-seal, in this process. TenSEAL with those settings measured 57.7
 * B/value here (REFERENCE.md); SEAL's full ciphertext with zstd is the form
 * that matches it, so that is the wire form judged here. The seeded form
 * (c1 sent as its PRNG seed) is shown too: it halves the bytes, but TenSEAL's
 * serialization does not use it.
 *
 * Measured: bytes per value of each form; client encrypt (encode + symmetric
 * encrypt + save with zstd, one thread); aggregator load + add of the wire
 * form (zstd: decompress, load, add) and of the uncompressed full form, one
 * thread, cycling a working set larger than the CPU caches.
 */
import { LOAD_ADD_WORKING_SET_BYTES, type CkksTesting } from './seal-limits.js';
import { rateOf } from '../timing.js';

/** A bench-local CKKS parameter set: the numbers, not a preset name. */
export const FLARE_HE_DEFAULTS = { polyModulusDegree: 8192, coeffModulusBits: [60, 40, 40], scaleBits: 40 } as const;

/** Configuration id of the baseline in the report (`<name>/<encoding>`). */
export const FLARE_BASELINE_ID = 'flare-n8192-q60-40-40-symmetric/slots';

export interface PeerBaseline {
  valuesPerCiphertext: number;
  /** Bytes of one ciphertext in each serialized form. */
  bytes: { fullNone: number; fullZstd: number; seededNone: number; seededZstd: number };
  /** One per trial. */
  encryptValuesPerSec: number[];
  loadAddZstdValuesPerSec: number[];
  loadAddNoneValuesPerSec: number[];
}

export async function measureFlareBaseline(kit: CkksTesting, minSeconds: number, trials: number): Promise<PeerBaseline> {
  const seal = await kit.sealParameterKit(FLARE_HE_DEFAULTS);
  try {
    const per = seal.slotCount;
    const values = Float64Array.from({ length: per }, (_, i) => Math.sin(i) * 1e-3);
    const fresh = (form: { seeded: boolean; compression: 'none' | 'zstd' }) => Array.from({ length: 8 }, () => seal.encrypt(values, form));
    const zstd = fresh({ seeded: false, compression: 'zstd' });
    const none = fresh({ seeded: false, compression: 'none' });
    const bytes = {
      fullNone: none[0]!.byteLength,
      fullZstd: zstd[0]!.byteLength,
      seededNone: seal.encrypt(values, { seeded: true, compression: 'none' }).byteLength,
      seededZstd: seal.encrypt(values, { seeded: true, compression: 'zstd' }).byteLength,
    };
    // Copies in distinct memory until the working set exceeds the CPU caches (as in seal-limits.ts).
    const cycle = (xs: Uint8Array[]) => Array.from({ length: Math.max(xs.length, Math.ceil(LOAD_ADD_WORKING_SET_BYTES / xs[0]!.byteLength)) }, (_, i) => xs[i % xs.length]!.slice());
    const loadAdd = (pool: Uint8Array[]) => {
      const acc = seal.accumulator(pool[0]!);
      let next = 0;
      try {
        return Array.from({ length: trials }, () =>
          rateOf(() => {
            acc.add(pool[next++ % pool.length]!);
            return per;
          }, minSeconds),
        );
      } finally {
        acc.dispose();
      }
    };
    const encryptValuesPerSec = Array.from({ length: trials }, () =>
      rateOf(() => {
        seal.encrypt(values, { seeded: false, compression: 'zstd' });
        return per;
      }, minSeconds),
    );
    return { valuesPerCiphertext: per, bytes, encryptValuesPerSec, loadAddZstdValuesPerSec: loadAdd(cycle(zstd)), loadAddNoneValuesPerSec: loadAdd(cycle(none)) };
  } finally {
    seal.dispose();
  }
}
