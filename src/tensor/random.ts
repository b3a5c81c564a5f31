// Mulberry32, the engine's one seeded PRNG (CPU side): the same seed gives the same stream on every
// machine. Parameter initialisation (src/nn's ParamInit), the queues' random start (src/csg) and the
// data pipeline (src/data's Rng) all draw from it.

// Looked up once: in jest's sandbox every `Math.x` lookup is slow, and initialisation draws per
// element (60 M draws for DeepLab-ResNet-101).
const { imul } = Math;

export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
