export * from './types.js';
export * from './service-definition.js';
export * from './server.js';
export * from './call-policy.js';
export * from './client.js';
export * from './credentials.js';
export * from './flow-control.js';
