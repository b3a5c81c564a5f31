// Every op of the engine. Importing this module registers them all.
export * from './elementwise.js';
export * from './reduce.js';
export * from './pending.js'; // TEMPORARY: delete at merge (see the file)
