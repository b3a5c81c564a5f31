// Kernels are WGSL entry points from shaders/<family>.wgsl. Their bind-group layout and the byte
// layout of their uniform `params` struct are read from the WGSL with wgsl_reflect, so a launch
// names its buffers and parameters instead of counting bindings by hand.
// The package's main entry is a CommonJS file under "type": "module" (it loads empty); use its ESM build.
import { WgslReflect, type VariableInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { GpuError, type CheckedDevice } from './errors.js';
import { platform } from './platform.js';

export interface KernelSpec {
  /** File in shaders/ without extension: one file per kernel family. */
  family: string;
  entry: string;
  /** Text substituted for `{{NAME}}` in the source before compiling (ops, types). */
  defines?: Record<string, string | number>;
  /** Pipeline-overridable constants (`override NAME: u32;`). */
  overrides?: Record<string, number>;
}

interface BindingSlot {
  binding: number;
  kind: 'uniform' | 'storage' | 'read-only-storage';
  /** The uniform struct filled from a launch's params (other uniforms are buffers the launch binds). */
  isParams?: boolean;
}

interface ParamMember {
  offset: number;
  type: 'f32' | 'i32' | 'u32';
  count: number; // > 1 for vecN / arrays of scalars
}

export interface Kernel {
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  slots: Map<string, BindingSlot>;
  /** Uniform struct bound as `params`, if the entry point uses one. */
  params: { name: string; size: number; members: Map<string, ParamMember> } | null;
  workgroupSize: [number, number, number];
}

const sourceCache = new Map<string, string>();
function readShader(path: string, what: string): string {
  const text = platform.shaderSource(path);
  if (text === null) throw new GpuError(`${what} not found at shaders/${path}`);
  return text;
}

/** A family's source with its `// #include NAME` lines replaced by shaders/include/NAME.wgsl (WGSL has no includes). */
function loadSource(family: string): string {
  let src = sourceCache.get(family);
  if (src === undefined) {
    src = readShader(`${family}.wgsl`, `shader family '${family}'`).replace(/^\/\/ #include ([\w-]+)$/gm, (_, name: string) =>
      readShader(`include/${name}.wgsl`, `shaders/${family}.wgsl: included '${name}'`),
    );
    sourceCache.set(family, src);
  }
  return src;
}

export function expandSource(family: string, defines: Record<string, string | number> = {}): string {
  const src = loadSource(family).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    if (!(key in defines)) throw new GpuError(`shader ${family}: no value given for {{${key}}}`);
    return String(defines[key]);
  });
  return src;
}

function scalarOf(typeName: string): { type: ParamMember['type']; count: number } {
  // array<vec4<u32>, N>: shapes and strides (uniform arrays need a 16-byte stride).
  const arr = /^array<vec4(?:<(f32|i32|u32)>|([fiu])),(\d+)>$/.exec(typeName.replace(/\s/g, ''));
  if (arr) {
    const type = arr[1] ?? ({ f: 'f32', i: 'i32', u: 'u32' } as const)[arr[2] as 'f' | 'i' | 'u'];
    return { type: type as ParamMember['type'], count: 4 * Number(arr[3]) };
  }
  const m = /^(?:vec([234])<?(f32|i32|u32)>?|(f32|i32|u32))$/.exec(typeName.replace(/\s/g, ''));
  if (m) return m[3] ? { type: m[3] as ParamMember['type'], count: 1 } : { type: m[2] as ParamMember['type'], count: Number(m[1]) };
  const short = /^vec([234])([fiu])$/.exec(typeName);
  if (short) return { type: ({ f: 'f32', i: 'i32', u: 'u32' } as const)[short[2] as 'f' | 'i' | 'u'], count: Number(short[1]) };
  throw new GpuError(`uniform member type ${typeName} is not supported in params structs`);
}

// wgsl_reflect's ResourceType values (its CommonJS build does not export the enum).
const RESOURCE_UNIFORM = 0;
const RESOURCE_STORAGE = 1;

function slotKind(v: VariableInfo): BindingSlot['kind'] {
  if ((v.resourceType as number) === RESOURCE_UNIFORM) return 'uniform';
  if ((v.resourceType as number) === RESOURCE_STORAGE) return v.access === 'read' ? 'read-only-storage' : 'storage';
  throw new GpuError(`binding ${v.name}: only buffers are supported`);
}

// Serialised defines by object: generated kernel bodies (matmul's STEPS, the InfoNCE window
// kernel's phases) are defines of hundreds of KiB that their ops keep in one object, and serialising
// them again on every dispatch cost more than the dispatch.
const definesKeys = new WeakMap<object, string>();

function keyOf(spec: KernelSpec): string {
  const defines = spec.defines ?? {};
  let definesKey = definesKeys.get(defines);
  if (definesKey === undefined) {
    definesKey = JSON.stringify(defines);
    definesKeys.set(defines, definesKey);
  }
  return JSON.stringify([spec.family, spec.entry, spec.overrides ?? {}]) + definesKey;
}

export function compileKernel(gpu: CheckedDevice, spec: KernelSpec): Kernel {
  const name = `${spec.family}.${spec.entry}`;
  const code = expandSource(spec.family, spec.defines);
  const reflect = new WgslReflect(code);
  const entry = reflect.entry.compute.find((f) => f.name === spec.entry);
  if (!entry) throw new GpuError(`kernel ${name}: no @compute entry point '${spec.entry}' in shaders/${spec.family}.wgsl`);
  const slots = new Map<string, BindingSlot>();
  const entries: GPUBindGroupLayoutEntry[] = [];
  let params: Kernel['params'] = null;
  for (const res of entry.resources) {
    if (res.group !== 0) throw new GpuError(`kernel ${name}: only @group(0) is supported (${res.name})`);
    const kind = slotKind(res);
    // A uniform struct is the launch's params; a uniform array is data bound like a storage buffer
    // (lavapipe reads uniforms at per-lane offsets much faster than storage).
    const isParams = kind === 'uniform' && (res.members?.length ?? 0) > 0;
    slots.set(res.name, { binding: res.binding, kind, isParams });
    entries.push({ binding: res.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: kind } });
    if (isParams) {
      if (params) throw new GpuError(`kernel ${name}: more than one uniform params struct`);
      const members = new Map<string, ParamMember>();
      for (const m of res.members ?? []) members.set(m.name, { offset: m.offset, ...scalarOf(m.type.getTypeName()) });
      params = { name: res.name, size: Math.max(16, Math.ceil(res.size / 16) * 16), members };
    }
  }
  const device = gpu.device;
  return gpu.guarded(`compiling kernel ${name}`, () => {
    const module = device.createShaderModule({ code, label: name });
    const layout = device.createBindGroupLayout({ entries, label: name });
    const pipeline = device.createComputePipeline({
      label: name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entry, constants: spec.overrides },
    });
    const ws = entry.workgroupSize ?? [1, 1, 1];
    return { name, pipeline, layout, slots, params, workgroupSize: [ws[0] ?? 1, ws[1] ?? 1, ws[2] ?? 1] };
  });
}

/** Pipelines cached by shader, entry point, defines and specialisation. */
export class KernelCache {
  private cache = new Map<string, Kernel>();
  constructor(private gpu: CheckedDevice) {}
  get(spec: KernelSpec): Kernel {
    const key = keyOf(spec);
    let k = this.cache.get(key);
    if (!k) {
      k = compileKernel(this.gpu, spec);
      this.cache.set(key, k);
    }
    return k;
  }
}

export function packParams(kernel: Kernel, values: Record<string, number | readonly number[]>, out: DataView, base: number): void {
  const p = kernel.params;
  if (!p) {
    if (Object.keys(values).length) throw new GpuError(`kernel ${kernel.name} takes no params`);
    return;
  }
  for (const [field, m] of p.members) {
    const v = values[field];
    if (v === undefined) throw new GpuError(`kernel ${kernel.name}: param '${field}' not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== m.count) throw new GpuError(`kernel ${kernel.name}: param '${field}' needs ${m.count} values, got ${arr.length}`);
    for (let i = 0; i < m.count; i++) {
      const at = base + m.offset + 4 * i;
      if (m.type === 'f32') out.setFloat32(at, arr[i]!, true);
      else if (m.type === 'i32') out.setInt32(at, arr[i]!, true);
      else out.setUint32(at, arr[i]!, true);
    }
  }
  for (const field of Object.keys(values)) {
    if (!p.members.has(field)) throw new GpuError(`kernel ${kernel.name}: unknown param '${field}'`);
  }
}
