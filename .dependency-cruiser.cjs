// The layering of src/ (docs/DESIGN.md), checked by dependency-cruiser in kernels-test/layering.test.ts
// (part of npm test) and by hand with `npx depcruise src`. Each layer imports only layers below it:
const LAYERS = ['gpu', 'tensor', 'ops', 'autograd', 'nn', 'csg', 'data', 'eval', 'train', 'cli'];

module.exports = {
  forbidden: [
    {
      name: 'no-import-of-cli',
      comment: 'Nothing below src/cli imports src/cli: the commands sit on top, options and defaults live in src/train.',
      severity: 'error',
      from: { path: '^src/(?!cli/)' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-cycles',
      comment: 'No import cycles (type-only imports included).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'csg-launches-no-kernel',
      comment: 'src/csg composes ops; kernels are launched in src/ops.',
      severity: 'error',
      from: { path: '^src/csg/' },
      to: { path: '^src/gpu/' },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `${layer}-imports-only-below`,
      comment: `src/${layer} may import ${LAYERS.slice(0, i).join(', ') || 'no other layer'} (and src/io): never a layer above it.`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
    })),
    {
      name: 'io-is-a-leaf',
      comment: 'src/io reads and writes files on the CPU; it imports no other part of src.',
      severity: 'error',
      from: { path: '^src/io/' },
      to: { path: '^src/(?!io/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Resolve ESM-only packages (fast-png) too, so that no import goes unresolved.
    enhancedResolveOptions: { conditionNames: ['import', 'require', 'node', 'default'], exportsFields: ['exports'] },
  },
};
