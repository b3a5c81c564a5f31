// Every op of the engine. Importing this module registers them all.
export * from './elementwise.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './softmax.js';
export * from './conv.js';
export * from './norm.js';
export * from './pool.js';
export * from './resize.js';
export * from './shape.js';
export * from './dropout.js';
export * from './loss.js';
export * from './csg.js';
