export * from './tensor.js';
export * from './registry.js';
export * from './arena.js';
export * from './random.js';
