// Pieces every task of the training core shares: the starting weights of the CSG model, the step's
// line and metrics, and curves.png from metrics.jsonl.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CsgModel } from '../csg/model.js';
import { ensureImagenetWeights } from '../io/imagenet-weights.js';
import { readSafetensors } from '../io/safetensors.js';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { linePlot, type Series } from '../data/picture.js';
import { hostTensors } from './checkpoint.js';
import type { StepReport } from './core.js';
import type { StepResult, Stage } from './step.js';

/**
 * Loads the starting backbone into the student (`weights`: 'imagenet' = the npm ResNet-50 of
 * `npm run weights:imagenet`, Caffe-style BGR input and its stride on the first 1×1; a safetensors
 * file in torchvision names; 'none'), makes the teacher its copy, and returns the input normalisation
 * those weights expect.
 */
export async function loadStartWeights(model: CsgModel, o: { weights: string; layers: number[] }, log: (s: string) => void): Promise<Normalization> {
  const imagenet = o.weights === 'imagenet';
  if (o.weights !== 'none') {
    const path = imagenet ? await ensureImagenetWeights({ log }) : o.weights;
    if (!existsSync(path)) throw new Error(`--weights: ${path} does not exist`);
    const { ignored } = model.encoder_q.loadBackbone(hostTensors(readSafetensors(path).tensors));
    log(`loaded backbone weights from ${path} (${ignored.length} entries not used by layers ${o.layers.join('.')})`);
  }
  model.syncTeacher();
  return imagenet ? CAFFE_NORM : IMAGENET_NORM;
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
