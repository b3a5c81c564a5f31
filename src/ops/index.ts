// Every op of the engine. Importing this module registers them all.
export * from './elementwise.js';
export * from './reduce.js';
export * from './conv.js';
