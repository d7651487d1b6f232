/**
 * Secret keys at rest: AES-256-GCM under a key-encryption key (KEK) that lives
 * outside the store (file or env). The round id is bound as associated data,
 * so a sealed key cannot be swapped onto another round.
 *
 * Format: version byte 1 | 12-byte IV | 16-byte tag | ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 1;

export class KeySealer {
  private constructor(private readonly kek: Buffer) {}

  /** From a base64 32-byte key. */
  static fromBase64(kekBase64: string): KeySealer {
    const kek = Buffer.from(kekBase64.trim(), 'base64');
    if (kek.length !== 32) throw new Error(`key-encryption key must be 32 bytes (base64), got ${kek.length}`);
    return new KeySealer(kek);
  }

  seal(plaintext: Uint8Array, associatedData: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), body]);
  }

  unseal(sealed: Uint8Array, associatedData: string): Buffer {
    const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (blob[0] !== VERSION || blob.length < 29) throw new Error('sealed key has an unknown format');
    const decipher = createDecipheriv('aes-256-gcm', this.kek, blob.subarray(1, 13));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(blob.subarray(13, 29));
    return Buffer.concat([decipher.update(blob.subarray(29)), decipher.final()]);
  }
}
