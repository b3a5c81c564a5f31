// Reads the PyTorch model fixtures (safetensors written by fixtures/make_models.py). A minimal reader
// for the dtypes those files hold; the library's full reader (validation, F16/BF16/BOOL) is src/io's.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const MODEL_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'models');

export interface FixtureTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
}

export interface Fixture {
  tensors: Map<string, FixtureTensor>;
  metadata: Record<string, string>;
}

export function readFixture(path: string): Fixture {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  const base = 8 + headerLength;
  const tensors = new Map<string, FixtureTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const bytes = file.buffer.slice(file.byteOffset + base + begin, file.byteOffset + base + end);
    const views: Record<string, (b: ArrayBuffer) => FixtureTensor['data']> = {
      F32: (b) => new Float32Array(b),
      I32: (b) => new Int32Array(b),
      I64: (b) => new BigInt64Array(b),
      U8: (b) => new Uint8Array(b),
    };
    const view = views[dtype];
    if (!view) throw new Error(`${path}: '${name}' has dtype ${dtype}, which this fixture reader does not handle`);
    tensors.set(name, { dtype, shape, data: view(bytes) });
  }
  return { tensors, metadata };
}

export function fixtureTensor(f: Fixture, name: string): FixtureTensor {
  const t = f.tensors.get(name);
  if (!t) throw new Error(`fixture has no tensor '${name}'`);
  return t;
}

/** Values of an NCHW tensor at the pixels (y, x) of grid × grid, as PyTorch's `x[:, :, grid][:, :, :, grid]`. */
export function sampleGrid(data: Float32Array, [n, c, h, w]: readonly number[], grid: readonly number[]): number[] {
  const sampled: number[] = [];
  for (let bc = 0; bc < n! * c!; bc++) for (const y of grid) for (const x of grid) sampled.push(data[(bc * h! + y) * w! + x]!);
  return sampled;
}
