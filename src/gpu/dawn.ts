// Loads Dawn's node bindings and installs the WebGPU globals (GPUBufferUsage, ...) before any other
// module of src/gpu evaluates code that uses them. CSG_DAWN_NODE=/path/to/dawn.node loads a Dawn
// built from source instead of the `webgpu` package's prebuilt one (see CMakeLists-notes.md).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

interface DawnBindings {
  create(flags: string[]): GPU;
  globals: object;
}

async function load(): Promise<DawnBindings> {
  const custom = process.env.CSG_DAWN_NODE;
  if (!custom) return (await import('webgpu')) as DawnBindings;
  const path = resolve(custom);
  try {
    return createRequire(import.meta.url)(path) as DawnBindings;
  } catch (e) {
    throw new Error(`CSG_DAWN_NODE=${custom}: cannot load ${path} as Dawn's node bindings: ${(e as Error).message}`);
  }
}

const { create, globals } = await load();
Object.assign(globalThis, globals);

export { create };
