export * from './errors.js';
export * from './reasons.js';
export * from './config.js';
export * from './logger.js';
export * from './grpc/index.js';
export * from './lifecycle.js';
