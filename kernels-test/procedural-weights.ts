// Weights from a formula, computed bit-identically here and in fixtures/make_models.py (--procedural):
// the full-width parity fixture then commits only PyTorch's outputs, not ~100 MB of weights.
// Each value is a 32-bit integer hash of (FNV-1a of the entry's name, element index) mapped to
// u in [-1, 1), scaled per tensor like an init; float64 arithmetic, rounded once to float32.
import type { HostTensor } from '../src/nn/index.js';

// Module-level bindings: under jest's vm context every global lookup in the hot loop (Math.*) is slow.
const { imul, fround, abs } = Math;

export const PROCEDURAL_NUM_BATCHES_TRACKED = 7;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** murmur3's 32-bit finaliser of (element index × golden ratio) xor key. */
function hashUnit(key: number, index: number): number {
  let h = (imul(index, 0x9e3779b1) ^ key) >>> 0;
  h = imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return (h >>> 8) / 8388608 - 1; // top 24 bits: u in [-1, 1), exact in float32
}

/** float32 values of the named tensor, each f(u) rounded once. */
export function proceduralValues(name: string, size: number, f: (u: number) => number = (u) => u): Float32Array {
  const key = fnv1a(name);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = fround(f(hashUnit(key, i)));
  return out;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * A state_dict for these (name, shape) entries: conv/linear weights u·sqrt(6/fan_in) (He-uniform, so
 * the signal survives the depth; PyTorch's default shrinks it), biases u/sqrt(fan_in); BN weight
 * 1 + 0.1u, bias 0.1u, running_mean 0.1u, running_var 1 + 0.5|u|, num_batches_tracked 7.
 */
export function proceduralStateDict(entries: Iterable<readonly [string, readonly number[]]>): Map<string, HostTensor> {
  const shapes = new Map(entries);
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of shapes) {
    const dot = name.lastIndexOf('.');
    const [owner, field] = [name.slice(0, dot), name.slice(dot + 1)];
    const isBatchNorm = shapes.has(`${owner}.running_mean`);
    if (field === 'num_batches_tracked') {
      out.set(name, { shape: [...shape], data: [PROCEDURAL_NUM_BATCHES_TRACKED] });
      continue;
    }
    let f: (u: number) => number;
    if (field === 'running_mean' || (isBatchNorm && field === 'bias')) f = (u) => 0.1 * u;
    else if (field === 'running_var') f = (u) => 1 + 0.5 * abs(u);
    else if (isBatchNorm && field === 'weight') f = (u) => 1 + 0.1 * u;
    else if (field === 'weight' || field === 'bias') {
      const weight = shapes.get(`${owner}.weight`);
      if (!weight || weight.length < 2) throw new Error(`proceduralStateDict: no conv/linear weight for '${name}'`);
      const fanIn = product(weight.slice(1));
      const bound = field === 'weight' ? Math.sqrt(6 / fanIn) : 1 / Math.sqrt(fanIn);
      f = (u) => u * bound;
    } else throw new Error(`proceduralStateDict: no rule for '${name}'`);
    out.set(name, { shape: [...shape], data: proceduralValues(name, product(shape), f) });
  }
  return out;
}

/** 2 images 3×128×128 (u) and labels (19 classes from one hash, 255 where another is below -0.75). */
export function proceduralInputs(): { images: { shape: number[]; data: Float32Array }; labels: { shape: number[]; data: Uint8Array } } {
  const pixels = 2 * 128 * 128;
  const classes = proceduralValues('labels', pixels, (u) => Math.floor((u + 1) * 9.5));
  const ignored = proceduralValues('labels_ignored', pixels);
  return {
    images: { shape: [2, 3, 128, 128], data: proceduralValues('images', 3 * pixels) },
    labels: { shape: [2, 128, 128], data: Uint8Array.from(classes, (c, i) => (ignored[i]! < -0.75 ? 255 : c)) },
  };
}
