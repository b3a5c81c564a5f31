// Loads Dawn's node bindings and installs the WebGPU globals (GPUBufferUsage, ...) before any other
// module of src/gpu evaluates code that uses them.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

export { create };
