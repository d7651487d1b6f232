/**
 * Parallel client-side encryption: chunks of the update are encrypted on
 * worker threads (piscina) and yielded in index order, with at most
 * `window` chunks in flight so memory stays bounded whatever the vector
 * length. Encryption is the client's bottleneck (about 1 ms of SEAL work per
 * 4,096 values), so this scales upload speed with the client's cores.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { valuesPerCiphertext, type CkksParams } from '@secagg/ckks';
import type { EncryptTask } from './encrypt-worker.js';

export class EncryptionPool {
  private readonly pool: Piscina<EncryptTask, Uint8Array>;
  readonly threads: number;

  constructor(threads = Math.max(1, availableParallelism())) {
    this.threads = threads;
    this.pool = new Piscina({ filename: new URL('./encrypt-worker.js', import.meta.url).href, minThreads: threads, maxThreads: threads });
  }

  /** Ciphertexts of `values` in index order (the last chunk zero-padded). */
  async *encrypt(params: CkksParams, publicKey: Uint8Array, values: ArrayLike<number>, window = this.threads * 2): AsyncGenerator<Uint8Array> {
    const perCiphertext = valuesPerCiphertext(params);
    const keyId = createHash('sha256').update(publicKey).digest('hex');
    const count = Math.ceil(values.length / perCiphertext);
    const inflight: Promise<Uint8Array>[] = [];
    let next = 0;
    const submit = () => {
      const start = next * perCiphertext;
      const chunk = new Float64Array(perCiphertext);
      for (let i = 0; i < perCiphertext && start + i < values.length; i++) chunk[i] = values[start + i]!;
      // The values buffer is transferred, not copied.
      inflight.push(this.pool.run({ params, publicKey, keyId, values: chunk }, { transferList: [chunk.buffer] }));
      next++;
    };
    try {
      while (next < count && inflight.length < window) submit();
      while (inflight.length > 0) {
        const ciphertext = await inflight.shift()!;
        if (next < count) submit();
        yield ciphertext;
      }
    } finally {
      await Promise.allSettled(inflight);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
