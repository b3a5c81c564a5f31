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

/**
 * While any of its promises is pending (mapAsync, onSubmittedWorkDone, popErrorScope), dawn.node
 * ticks the device from a callback that re-queues itself with setImmediate (crbug.com/dawn/1127):
 * a CPU core spins for as long as the GPU works. On a CPU adapter that core is one the driver's
 * threads need (lavapipe ran InfoNCE about 1.6× faster with the loop on a timer). This routes Dawn's
 * tick, a native unnamed callback queued without arguments (which no JavaScript caller passes),
 * through a 1 ms timer; every other setImmediate is untouched.
 */
export function throttleDawnPolling(): void {
  const immediate = globalThis.setImmediate;
  if (throttled.has(immediate)) return;
  const isDawnTick = (fn: (...args: unknown[]) => void, args: unknown[]) =>
    fn.name === '' && args.length === 0 && Function.prototype.toString.call(fn).includes('[native code]');
  const wrapped = (fn: (...args: unknown[]) => void, ...args: unknown[]) => (isDawnTick(fn, args) ? setTimeout(fn, 1) : immediate(fn, ...args));
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(immediate));
  globalThis.setImmediate = wrapped as unknown as typeof setImmediate;
  throttled.add(globalThis.setImmediate);
}
const throttled = new WeakSet<object>();
