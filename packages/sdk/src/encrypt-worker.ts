/**
 * Worker-thread side of the encryption pool: each thread keeps one SEAL
 * engine and encryptor per (parameters, public key) and encrypts the chunks
 * it is handed. SEAL's WASM heap lives per thread, so a failing worker can be
 * terminated without touching the caller.
 */
import { CkksEngine, type CkksEncryptor, type CkksParams } from '@secagg/ckks';

export interface EncryptTask {
  params: CkksParams;
  publicKey: Uint8Array;
  /** SHA-256 of the public key, computed once by the caller: identifies the cached encryptor without rehashing per chunk. */
  keyId: string;
  values: Float64Array;
}

let cached: { key: string; engine: CkksEngine; encryptor: CkksEncryptor } | undefined;

export default async function encrypt(task: EncryptTask): Promise<Uint8Array> {
  const key = `${task.params.preset}/${task.params.encoding}/${task.params.scaleBits}/${task.keyId}`;
  if (cached?.key !== key) {
    cached?.engine.dispose();
    const engine = await CkksEngine.create(task.params);
    cached = { key, engine, encryptor: engine.createEncryptor(task.publicKey) };
  }
  return cached.encryptor.encrypt(task.values);
}
