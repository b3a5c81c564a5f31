// N training steps of the embedded digits task in the page: batches of synthetic digits rendered
// here (src/data/render-digits.ts) with the recipe's augmentation, and the same CSG step as
// train:seg (src/train/step.ts), on a CSG checkpoint whose metadata holds its training options.
import type { CsgDeepLab } from '../csg/model.js';
import { CsgTrainStep, stepConfig, type StepResult } from '../train/step.js';
import type { TrainOptions } from '../train/options.js';
import { makeBatch, recipeAugment, type LabelledImage, type Normalization } from '../data/augment.js';
import { renderSynthetic } from '../data/render-digits.js';
import { toBytes } from '../data/image.js';
import { deriveSeed, Rng } from '../data/rng.js';

export interface PageTraining {
  steps: number;
  /** λ of CSG (0 = the baseline: cross-entropy alone). */
  lambda: number;
  lr: number;
  seed: number;
}

/** The synthetic training batch of `step`: a pure function of (seed, step). */
function syntheticBatch(o: TrainOptions, norm: Normalization, seed: number, step: number, withKeys: boolean) {
  const rng = new Rng(deriveSeed(seed, `page-step-${step}`));
  const size = o.size;
  const samples: LabelledImage[] = Array.from({ length: o.batch }, () => {
    const img = new Float32Array(size * size * 3);
    const label = new Uint8Array(size * size);
    renderSynthetic(rng, size, o.digitClasses, img, label);
    return { width: size, height: size, image: toBytes(img), label };
  });
  return makeBatch(samples, rng, recipeAugment([size, size]), norm, withKeys);
}

/** Runs the steps, calling `onStep` after each; `stop()` returning true ends the loop early. */
export async function trainInPage(
  model: CsgDeepLab,
  options: TrainOptions,
  norm: Normalization,
  run: PageTraining,
  onStep: (r: StepResult) => void | Promise<void>,
  stop: () => boolean,
): Promise<void> {
  if (options.train !== 'digits') throw new Error(`this checkpoint was trained on ${options.train}: the page trains the embedded digits task only`);
  const step = new CsgTrainStep(model, { ...stepConfig(options), lambda: run.lambda, baseLr: run.lr, itersMax: run.steps });
  try {
    for (let it = 0; it < run.steps && !stop(); it++) {
      const b = syntheticBatch(options, norm, run.seed, it, run.lambda > 0);
      await onStep(await step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels }));
    }
  } finally {
    step.dispose();
    model.eval();
  }
}
