/**
 * Secret keys at rest: AES-256-GCM under a key-encryption key (KEK) that lives
 * outside the store (file or env). The round id is bound as associated data,
 * so a sealed key cannot be swapped onto another round.
 *
 * Rotation: every sealed blob names the KEK that sealed it (the first 8 bytes
 * of SHA-256 of the KEK), so a keyholder configured with a new KEK and the
 * previous ones opens old blobs and re-seals them under the new KEK at start
 * (KeyStore.resealSecretKeys); once that has run, the old KEK can be removed.
 *
 * Format v2: 0x02 | 8-byte KEK id | 12-byte IV | 16-byte tag | ciphertext.
 * Format v1 (no KEK id): 0x01 | IV | tag | ciphertext — opened with any configured KEK.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const V1 = 1;
const V2 = 2;
const ID_BYTES = 8;

interface Kek {
  id: Buffer;
  key: Buffer;
}

function kekOf(base64: string): Kek {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) throw new Error(`key-encryption key must be 32 bytes (base64), got ${key.length}`);
  return { key, id: createHash('sha256').update(key).digest().subarray(0, ID_BYTES) };
}

export class KeySealer {
  private constructor(
    private readonly current: Kek,
    private readonly previous: readonly Kek[],
  ) {}

  /** From the current base64 32-byte KEK and, during a rotation, the previous ones. */
  static fromBase64(kekBase64: string, previousKeksBase64: readonly string[] = []): KeySealer {
    return new KeySealer(kekOf(kekBase64), previousKeksBase64.map(kekOf));
  }

  /** Hex id of the current KEK (safe to log: a hash prefix, not the key). */
  get currentKekId(): string {
    return this.current.id.toString('hex');
  }

  seal(plaintext: Uint8Array, associatedData: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(V2), this.current.id, iv, cipher.getAuthTag(), body]);
  }

  /** True when `sealed` was sealed by a KEK other than the current one (it should be re-sealed). */
  needsReseal(sealed: Uint8Array): boolean {
    return sealed[0] !== V2 || !Buffer.from(sealed.subarray(1, 1 + ID_BYTES)).equals(this.current.id);
  }

  unseal(sealed: Uint8Array, associatedData: string): Buffer {
    const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (blob[0] === V2 && blob.length >= 1 + ID_BYTES + 28) {
      const id = blob.subarray(1, 1 + ID_BYTES);
      const kek = [this.current, ...this.previous].find((k) => k.id.equals(id));
      if (!kek) throw new Error(`sealed key was sealed by KEK ${id.toString('hex')}, which is not configured`);
      return open(kek.key, blob.subarray(1 + ID_BYTES), associatedData);
    }
    if (blob[0] === V1 && blob.length >= 29) {
      for (const kek of [this.current, ...this.previous]) {
        try {
          return open(kek.key, blob.subarray(1), associatedData);
        } catch {
          // try the next configured KEK
        }
      }
      throw new Error('no configured KEK opens this sealed key');
    }
    throw new Error('sealed key has an unknown format');
  }
}

/** IV | tag | ciphertext under `key`; throws when the tag does not verify. */
function open(key: Buffer, rest: Buffer, associatedData: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, rest.subarray(0, 12));
  decipher.setAAD(Buffer.from(associatedData));
  decipher.setAuthTag(rest.subarray(12, 28));
  return Buffer.concat([decipher.update(rest.subarray(28)), decipher.final()]);
}
