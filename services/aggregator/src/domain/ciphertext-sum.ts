/**
 * Adding serialized ciphertexts: coefficient-wise addition mod q on the
 * validated SEAL serialization (see @secagg/ckks addCiphertextInto). No SEAL
 * object and no key is involved: an aggregator cannot decrypt anything.
 */
import { addCiphertextInto, type CiphertextFormat } from '@secagg/ckks';

/** acc[i] += addend[i] for every ciphertext position; acc is modified in place. */
export function addInto(format: CiphertextFormat, acc: Buffer[], addend: readonly Uint8Array[]): void {
  if (acc.length !== addend.length) throw new Error(`cannot add ${addend.length} ciphertexts to ${acc.length}`);
  for (let i = 0; i < acc.length; i++) addCiphertextInto(format, acc[i]!, addend[i]!);
}
