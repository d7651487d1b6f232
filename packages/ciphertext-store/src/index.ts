export * from './ciphertext-store.js';
export { FsCiphertextStore } from './fs-store.js';
