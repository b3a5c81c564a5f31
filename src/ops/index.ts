// Every op of the engine. Importing this module registers them all.
export * from './elementwise.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './softmax.js';
export * from './conv2d.js';
export * from './norm.js';
export * from './pool.js';
export * from './resize.js';
export * from './shape.js';
export * from './dropout.js';
export * from './loss.js';
export * from './patch.js';
export * from './nce.js';
export * from './queue.js';
export * from './optim.js';
export * from './hse.js';
