/**
 * One place that turns a configured store location into a store, so every
 * service accepts the same URLs:
 *
 *   /var/lib/secagg/ciphertexts               the filesystem store (a plain path)
 *   file:///var/lib/secagg/ciphertexts        the same, as a URL
 *   s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1&forcePathStyle=true
 *                                              the S3-compatible store (parameters: s3-store.ts
 *                                              `parseS3StoreUrl`; credentials from the AWS SDK's
 *                                              default chain, never from the URL)
 */
import { fileURLToPath } from 'node:url';
import type { CiphertextStore } from './ciphertext-store.js';
import { FsCiphertextStore } from './fs-store.js';
import { parseS3StoreUrl, S3CiphertextStore } from './s3-store.js';

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** Opens the store a location names. Errors name the scheme or parameter at fault, never echo the URL (it may be a secret by mistake). */
export async function openCiphertextStore(location: string): Promise<CiphertextStore> {
  if (location === '') throw new RangeError('the ciphertext store location is empty');
  const scheme = SCHEME.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return FsCiphertextStore.open(location);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new RangeError(`the ciphertext store location is not a valid ${scheme}: URL`);
  }
  switch (scheme) {
    case 'file':
      if (url.search !== '' || url.hash !== '') throw new RangeError('a file: ciphertext store URL has no query or fragment');
      return FsCiphertextStore.open(fileURLToPath(url));
    case 's3':
      return S3CiphertextStore.open(parseS3StoreUrl(url));
    default:
      throw new RangeError(`ciphertext store scheme ${scheme}: is not file: or s3:`);
  }
}
