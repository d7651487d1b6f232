/** Test support for other workspaces: the store contract suite and a real S3-API server. Not for production code. */
export { describeCiphertextStoreContract, type ContractHarness, type ContractStore } from './ciphertext-store-contract.js';
export { startS3TestServer, useS3TestCredentials, type S3TestServer } from './s3-test-server.js';
