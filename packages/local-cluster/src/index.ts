export * from './redis-server.js';
export * from './local-cluster.js';
