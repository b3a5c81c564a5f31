// Tests are TypeScript ESM (the `webgpu` package is ESM only), transpiled by swc.
// One worker: each process that opens Dawn on lavapipe already uses every core.
export default {
  testMatch: ['<rootDir>/kernels-test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }] },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  testTimeout: 120000,
  maxWorkers: 1,
  // A fresh worker process for every test file: a file's Dawn instance, dropped by closeGpu, was once
  // collected while the next file ran and took the whole run down in native code (a pthread mutex
  // assertion, std::system_error). A process per file keeps each file's Dawn to itself. (platform-node.ts
  // now keeps one instance for the life of a process, kernels-test/gpu-lifecycle.test.ts; this stays as a
  // second guard.)
  workerIdleMemoryLimit: 1,
  reporters: ['default', '<rootDir>/kernels-test/summary-reporter.js'],
};
