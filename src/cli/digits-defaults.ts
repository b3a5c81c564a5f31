// Defaults of the embedded synthetic→real digits task, sized so that `npm run train:seg` finishes
// within 20 minutes on 2 CPU cores under lavapipe, first-run set-up included. ../shared/demo-pilot.md:
// thin strokes in 11 classes did not learn in 200 steps, bold strokes in 2 classes did; λ must shrink
// as the learning rate grows (λ·backbone lr ≲ 5e-4 was stable).
import type { TrainOptions } from './options.js';

export const DIGITS_DEFAULTS: Partial<TrainOptions> = {
  train: 'digits',
  val: 'digits',
  model: 'deeplab-small',
  layers: [1, 1, 1, 1], // the first block of each ImageNet ResNet-50 stage
  width: 64,
  classes: 2,
  digitClasses: 2,
  size: 64,
  counts: '2000,250,250,500',
  batch: 4,
  iters: 200,
  lr: 0.05, // head; the backbone trains at lr·factor = 0.005
  factor: 0.1,
  csg: 0.1,
  chunks: 4, // 64 px at output stride 8 is an 8×8 map: 2×2-pixel patches
  K: 1024,
  out: 'runs/digits',
  logEvery: 10,
  evalEvery: 50,
  checkpointEvery: 100,
};

export function describeDefaults(o: TrainOptions): string {
  return (
    `[train:seg] embedded task: ${o.digitClasses === 2 ? 'stroke vs background' : 'digit classes'} on ${o.size}×${o.size} images; ` +
    `train on rendered (synthetic) digits, test on real MNIST digits over real photographs.\n` +
    `[train:seg] CSG: λ ${o.csg}, stages ${o.stages.join(',')}, ${o.chunks}×${o.chunks} patch grid, ${o.apool ? 'A-Pool' : 'average pooling'}, ` +
    `τ ${o.tau}, m ${o.momentumEma}, K ${o.K}; ResNet-50 layers ${o.layers.join('.')} from ImageNet; batch ${o.batch}, ${o.iters} steps, ` +
    `lr ${o.lr} (backbone ×${o.factor}). λ is small because the learning rate is 50× the paper's (λ·backbone lr ≲ 5e-4).\n`
  );
}
