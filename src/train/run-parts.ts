// Pieces the tasks of the training core share: the starting weights of the CSG model, the step's line
// and metrics, and curves.png from metrics.jsonl.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CsgModel } from '../csg/model.js';
import { ensureImagenetWeights } from '../io/imagenet-weights.js';
import { readWeights, describeWeights, LAYOUT_DESCRIPTION, type BackboneLayout, type WeightsFile } from '../io/weights.js';
import { TensorError } from '../tensor/index.js';
import { CAFFE_NORM, CAFFE_UNIT_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { linePlot, type Series } from '../data/picture.js';
import { hostTensors, CheckpointError } from './checkpoint.js';
import type { StepReport, CoreOptions } from './core.js';
import type { TrainOptions } from './options.js';
import type { StepResult, Stage } from './step.js';

/** The starting weights (--weights imagenet, a .safetensors/.pth/.pth.tar, or none) and their backbone layout. */
export async function readStartWeights(o: { weights: string }, log: (s: string) => void): Promise<{ path: string | null; weights: WeightsFile | null; layout: BackboneLayout }> {
  const path = o.weights === 'none' ? null : o.weights === 'imagenet' ? await ensureImagenetWeights({ log }) : o.weights;
  const weights = path === null ? null : readWeights(path);
  const layout: BackboneLayout = weights?.layout ?? 'torchvision';
  log(path && weights ? `--weights ${describeWeights(path, weights)}` : `--weights none: random init, ${LAYOUT_DESCRIPTION[layout]}`);
  return { path, weights, layout };
}

/** Replaces conv1's weights by a copy multiplied by CAFFE_UNIT_NORM's std per input channel (see there). */
function unitInputConv1(host: ReturnType<typeof hostTensors>): void {
  const w = host.get('conv1.weight');
  if (!w || !(w.data instanceof Float32Array) || w.shape.length !== 4 || w.shape[1] !== 3) return; // loadBackbone names what is wrong
  const plane = w.shape[2]! * w.shape[3]!;
  host.set('conv1.weight', { shape: w.shape, data: w.data.map((v, i) => v * CAFFE_UNIT_NORM.std[Math.floor(i / plane) % 3]!) });
}

/**
 * Loads the starting backbone into the student (built with the layout's stride placement), makes the
 * teacher its copy, and returns the input normalisation those weights expect. `unitInput`: Caffe
 * weights take unit-scale inputs (CAFFE_UNIT_NORM, conv1 rescaled to compute the same function).
 */
export function loadStartWeights(
  model: CsgModel,
  start: { path: string | null; weights: WeightsFile | null; layout: BackboneLayout },
  log: (s: string) => void,
  unitInput = false,
): Normalization {
  const caffeNorm = unitInput ? CAFFE_UNIT_NORM : CAFFE_NORM;
  if (start.path && start.weights) {
    let ignored: string[];
    try {
      const host = hostTensors(start.weights.tensors);
      if (unitInput && start.layout === 'caffe') unitInputConv1(host);
      ({ ignored } = model.encoder_q.loadBackbone(host));
    } catch (e) {
      throw e instanceof TensorError ? new CheckpointError(`--weights ${start.path}: ${e.message}`) : e;
    }
    // The one partial load: the backbone's entries (all of them) from an ImageNet network; the rest keeps its init.
    const backbone = new Set(model.encoder_q.backboneModules().map(([name]) => name));
    const notLoaded = model.encoder_q.children().filter(([name]) => !backbone.has(name)).map(([name]) => name);
    const rescaled = unitInput && start.layout === 'caffe' ? '; conv1 multiplied by ImageNet std·255 for inputs of unit scale (same function)' : '';
    log(`loaded the backbone (${[...backbone].join(', ')}) from ${start.path}; ${notLoaded.join(', ')} start from their random init; ${ignored.length} entries of the file not used${rescaled}`);
  }
  model.syncTeacher();
  return start.layout === 'caffe' ? caffeNorm : IMAGENET_NORM;
}

/** What the core logs of a CSG step: its losses (checked for NaN), its metrics line and its progress line. */
export function stepReport(r: StepResult, stages: Stage[]): StepReport {
  const nce = Object.fromEntries(Object.entries(r.nce).map(([s, v]) => [`nce stage ${s}`, v]));
  const line = stages.map((s) => (r.nce[s] !== undefined ? ` nce${s} ${r.nce[s]!.toFixed(3)} top1 ${(100 * r.top1[s]!).toFixed(0)}%` : '')).join('');
  return {
    losses: { ce: r.ce, ...(r.reg !== undefined ? { regularizer: r.reg } : {}), ...nce, total: r.total },
    metrics: { ce: r.ce, reg: r.reg, nce: r.nce, top1: r.top1, top5: r.top5, total: r.total, lr: r.lrs },
    line: `ce ${r.ce.toFixed(4)}${r.reg !== undefined ? ` reg ${r.reg.toFixed(4)}` : ''}${line}`,
  };
}

/** curves.png: the training losses, and the selection metric `key` (×100) under `title`. */
export function drawCurves(out: string, metricsPath: string, selection: { key: string; title: string }): void {
  const lines = (existsSync(metricsPath) ? readLines(metricsPath) : []) as Record<string, unknown>[];
  const train = lines.filter((l) => l.kind === 'train') as { step: number; ce: number; reg?: number; nce: Record<string, number> }[];
  const evals = lines.filter((l) => l.kind === 'eval') as { step: number; [k: string]: number }[];
  const loss: Series[] = [{ name: 'CE', points: train.map((l) => [l.step, l.ce]) }];
  if (train.some((l) => l.reg !== undefined)) loss.push({ name: 'regularizer', points: train.map((l) => [l.step, l.reg ?? NaN]) });
  for (const s of ['3', '4']) {
    if (train.some((l) => l.nce?.[s] !== undefined)) loss.push({ name: `NCE stage ${s}`, points: train.map((l) => [l.step, l.nce[s] ?? NaN]) });
  }
  const panels = [{ title: 'training losses', series: loss }];
  if (evals.length) panels.push({ title: selection.title, series: [{ name: selection.key, points: evals.map((e) => [e.step, 100 * e[selection.key]!]) }] });
  linePlot(panels).save(join(out, 'curves.png'));
}

function readLines(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** The training core's settings of a run, from the shared training flags. */
export function coreOptions(o: TrainOptions): CoreOptions {
  return { out: o.out, iters: o.iters, resume: o.resume, force: o.force, logEvery: o.logEvery, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, config: o };
}
