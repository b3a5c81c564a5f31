export * from './tensor.js';
export * from './registry.js';
