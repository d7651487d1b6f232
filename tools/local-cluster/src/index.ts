export * from './redis-server.js';
export * from './local-cluster.js';
export * from './certs.js';
