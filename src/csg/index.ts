// CSG, the method: key queues, the EMA and SGD of the recipe, the contrastive loss, and the
// hyperspherical energy used to measure diversity.
export * from './queue.js';
export * from './optim.js';
export * from './loss.js';
export * from './hse.js';
