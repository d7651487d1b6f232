/**
 * What SEAL 4.1.2 (node-seal 7.0.0) derives from each preset, recorded so that
 * validation and addition need no SEAL at all (the gateway and aggregators
 * never load it). `CoeffModulus.Create` is deterministic (the largest primes
 * ≡ 1 mod 2N below 2^bits) and parms_id is a hash of the parameters, so these
 * never change for a given SEAL version; `CkksEngine.create` recomputes them
 * with SEAL and fails with `seal_mismatch` if they differ, and a test checks
 * every preset.
 *
 * parms_id is written as the 32 bytes SEAL serializes (four little-endian uint64).
 */
import type { PresetName } from './presets.js';

export interface SealConstants {
  /** Primes of the data level (what ciphertexts carry), decimal. */
  readonly dataPrimes: readonly string[];
  /** parms_id of the data level (SEAL's `first_parms_id`). */
  readonly dataParmsIdHex: string;
  /** Primes of the key level (all primes), decimal. */
  readonly keyPrimes: readonly string[];
  /** parms_id of the key level (`key_parms_id`); equals the data level for a single prime. */
  readonly keyParmsIdHex: string;
}

export const SEAL_CONSTANTS: Readonly<Record<PresetName, SealConstants>> = Object.freeze({
  'n4096-q60p49': {
    dataPrimes: ['1152921504606830593'],
    dataParmsIdHex: '6afd21c68eaea2fa8274edfa3723ade74760cc4465d33aa4aa8ca90de97960fe',
    keyPrimes: ['1152921504606830593', '562949953216513'],
    keyParmsIdHex: '2824edc5a634bcce1179e0c219f216b5742d7b94555ba053ff1cfc3a48b2d149',
  },
  'n4096-q54': {
    dataPrimes: ['18014398509309953'],
    dataParmsIdHex: '51ae543f0924b47aa9562856693865639a047f41c515f2f8855145be0cc678b5',
    keyPrimes: ['18014398509309953'],
    keyParmsIdHex: '51ae543f0924b47aa9562856693865639a047f41c515f2f8855145be0cc678b5',
  },
  'n8192-q60x4': {
    dataPrimes: ['1152921504606748673', '1099510890497', '1099511480321'],
    dataParmsIdHex: '0f8bbf7d4509a0123c2bc9d4f3d564630c448ed8cc41a8965894081870675512',
    keyPrimes: ['1152921504606748673', '1099510890497', '1099511480321', '1152921504606830593'],
    keyParmsIdHex: 'e2a8dd3f1586dacfac02a4591f26b3ba536e0b1f60e28faef57f030eab08c5dd',
  },
  'n2048-q54': {
    dataPrimes: ['18014398509404161'],
    dataParmsIdHex: 'e9095456ca0cdf3f03014aa380668265f838d37d95b763514f04e92bb39716ee',
    keyPrimes: ['18014398509404161'],
    keyParmsIdHex: 'e9095456ca0cdf3f03014aa380668265f838d37d95b763514f04e92bb39716ee',
  },
});
