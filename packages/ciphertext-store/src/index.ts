export * from './ciphertext-store.js';
export { FsCiphertextStore } from './fs-store.js';
export { DEFAULT_S3_PART_BYTES, S3CiphertextStore, parseS3StoreUrl, type S3CiphertextStoreOptions } from './s3-store.js';
export { openCiphertextStore } from './open-ciphertext-store.js';
