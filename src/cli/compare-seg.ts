// npm run compare:seg [-- --seeds 3 ...train flags]: CSG against the baseline (λ = 0, everything else
// the same: init, data order, augmentation draws, dropout) over paired seeds. Prints real-test mIoU
// per seed, the paired deltas with their mean and spread, and the hyperspherical energy of the
// real-test stage-4 features of the ImageNet teacher, the baseline and CSG: the paper's two claims.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initGpu, closeGpu } from '../gpu/index.js';
import { featureEnergy } from '../eval/energy.js';
import { evaluate } from '../eval/evaluate.js';
import { trainSeg, buildModel, type RunSummary } from '../train/train-seg.js';
import { openTaskData } from '../data/task.js';
import { parseTrainOptions, describeDefaults, HELP, OptionError } from './options.js';
import { trainWatched, runCommand } from './run.js';
import { DIGITS_DEFAULTS } from '../train/options.js';

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, std };
}

const pct = (x: number) => (100 * x).toFixed(2);

async function imagenetHse(o: ReturnType<typeof parseTrainOptions>): Promise<number> {
  const data = openTaskData(o);
  const { model, norm } = await buildModel(o, data.classNames.length, () => undefined);
  const real = data.evals.find((e) => e.hse)!;
  const r = await evaluate(model.encoder_k, real.source, { classes: data.classNames.length, norm, batch: 16, features: true });
  const value = await featureEnergy(r.features!, r.featureDim);
  model.dispose();
  return value;
}

runCommand('compare:seg', async () => {
  const argv = process.argv.slice(2);
  const seedsAt = argv.indexOf('--seeds');
  const seeds = seedsAt >= 0 ? Number(argv[seedsAt + 1]) : 3;
  if (!Number.isInteger(seeds) || seeds < 1) throw new OptionError(`--seeds: '${argv[seedsAt + 1]}' must be a positive integer`);
  const rest = seedsAt >= 0 ? [...argv.slice(0, seedsAt), ...argv.slice(seedsAt + 2)] : argv;
  const embedded = !rest.some((a) => a.startsWith('--train'));
  const base = parseTrainOptions(rest, embedded ? { ...DIGITS_DEFAULTS, out: 'runs/compare' } : { out: 'runs/compare' });
  if (base.help) {
    console.log(`npm run compare:seg [-- --seeds 3 flags]\n${HELP}`);
    return;
  }
  if (base.csg === 0) throw new OptionError('--csg 0 leaves nothing to compare: give the λ of the CSG runs');
  if (embedded) process.stderr.write(describeDefaults(base));
  await initGpu();
  mkdirSync(base.out, { recursive: true });
  const rows: { seed: number; baseline: RunSummary; csg: RunSummary }[] = [];
  for (let seed = base.seed; seed < base.seed + seeds; seed++) {
    const run = async (lambda: number, name: string) => {
      process.stderr.write(`\n[compare:seg] seed ${seed}: ${name} (λ ${lambda})\n`);
      return trainWatched((hooks) => trainSeg({ ...base, seed, csg: lambda, out: join(base.out, `seed${seed}-${name}`) }, hooks));
    };
    rows.push({ seed, baseline: await run(0, 'baseline'), csg: await run(base.csg, 'csg') });
  }
  const hseImagenet = await imagenetHse(base);
  const deltas = rows.map((r) => r.csg.miou_real - r.baseline.miou_real);
  const d = meanStd(deltas);
  const lines = [
    `| seed | baseline real mIoU | CSG real mIoU | Δ (CSG − baseline) | baseline syn mIoU | CSG syn mIoU | HSE baseline | HSE CSG |`,
    `|---|---|---|---|---|---|---|---|`,
    ...rows.map(
      (r, i) =>
        `| ${r.seed} | ${pct(r.baseline.miou_real)} | ${pct(r.csg.miou_real)} | ${deltas[i]! >= 0 ? '+' : ''}${pct(deltas[i]!)} | ${r.baseline.miou_syn === null ? '–' : pct(r.baseline.miou_syn)} | ${r.csg.miou_syn === null ? '–' : pct(r.csg.miou_syn)} | ${r.baseline.hse_real_stage4?.toFixed(4)} | ${r.csg.hse_real_stage4?.toFixed(4)} |`,
    ),
    '',
    `paired Δ mIoU: mean ${d.mean >= 0 ? '+' : ''}${pct(d.mean)}, std ${pct(d.std)} over ${rows.length} seeds → ${Math.abs(d.mean) > d.std ? (d.mean > 0 ? 'CSG better beyond the seed spread' : 'CSG worse beyond the seed spread') : 'no difference beyond the seed spread'}`,
    `trivial level (best constant prediction, the same data for every seed): real-test mIoU ${pct(rows[0]!.baseline.miou_real_trivial)}, pixel acc ${pct(rows[0]!.baseline.pixel_accuracy_real_trivial)}${rows[0]!.baseline.miou_syn_trivial === null ? '' : `; synthetic-val mIoU ${pct(rows[0]!.baseline.miou_syn_trivial)}, pixel acc ${pct(rows[0]!.baseline.pixel_accuracy_syn_trivial!)}`}`,
    `hyperspherical energy (s = 1, mean over pairs, lower = more spread) of real-test stage-4 features: ImageNet teacher ${hseImagenet.toFixed(4)}, baseline ${meanStd(rows.map((r) => r.baseline.hse_real_stage4!)).mean.toFixed(4)}, CSG ${meanStd(rows.map((r) => r.csg.hse_real_stage4!)).mean.toFixed(4)}`,
  ];
  const table = lines.join('\n');
  console.log(`\n${table}`);
  writeFileSync(join(base.out, 'compare.md'), `${table}\n`);
  writeFileSync(join(base.out, 'compare.json'), JSON.stringify({ seeds: rows.map((r) => r.seed), deltas, hseImagenet, rows }, null, 2));
  closeGpu();
});
