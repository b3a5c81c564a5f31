// Writes the web page's samples (assets/web): the student (encoder_q) of a run's latest checkpoint
// without its projection heads, stored as float16 to stay small enough to commit, with the run's
// training options as metadata; real-test and synthetic-val images of the embedded digits task as
// PNGs; samples.json naming them with the run's real-test and synthetic mIoU.
//   npx tsx scripts/web-sample.ts RUN_DIR [photos per split]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors-file.js';
import { tensorEntry, toFloat32, type StateDict } from '../src/io/safetensors.js';
import { resolveCheckpoint, readTrainerState } from '../src/train/checkpoint.js';
import { loadDigitsTask, splitSample } from '../src/data/digits.js';
import { writeRgbPng } from '../src/data/png.js';

const run = process.argv[2];
if (!run) throw new Error('usage: npx tsx scripts/web-sample.ts RUN_DIR [photos per split]');
const perSplit = Number(process.argv[3] ?? 3);
const out = join('assets', 'web');
const dir = resolveCheckpoint(run);
const trainer = readTrainerState(dir);
const { tensors, metadata } = readSafetensors(join(dir, 'checkpoint.safetensors'));
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'photos'), { recursive: true });
/** IEEE half-precision bits of a float32, rounded to nearest even (weights of a trained net are in range). */
function halfBits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0x1000 + ((m >>> 13) & 1) - 1) >>> 13);
  }
  const rounded = (exp << 10) + ((mant + 0xfff + ((mant >>> 13) & 1)) >>> 13);
  return sign | rounded;
}
const student: StateDict = new Map();
let worst = 0;
for (const [name, e] of tensors) {
  if (!name.startsWith('encoder_q.') || name.startsWith('encoder_q.fc.') || name.startsWith('encoder_q.fc_csg.')) continue;
  if (e.dtype !== 'F32') student.set(name, e);
  else {
    const f32 = toFloat32(e, name);
    const f16 = tensorEntry('F16', e.shape, Uint16Array.from(f32, halfBits));
    const back = toFloat32(f16, name);
    back.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - f32[i]!) / Math.max(Math.abs(f32[i]!), 6e-5))));
    student.set(name, f16);
  }
}
console.log(`float16: worst relative rounding error ${worst.toExponential(2)} (about 2^-11 = 4.9e-4 for normal values)`);
writeSafetensors(join(out, 'checkpoint.safetensors'), student, { ...metadata, training_options: JSON.stringify(trainer.options) });

const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { miou_real: number; miou_syn: number; steps: number };
const options = trainer.options as { size: number; digitClasses: 2 | 11 };
const task = loadDigitsTask({ size: options.size, classes: options.digitClasses });
const photos: { file: string; caption: string }[] = [];
for (const [split, name, label] of [
  [task.testReal, 'real', 'real test'],
  [task.valSyn, 'synthetic', 'synthetic val'],
] as const) {
  for (let i = 0; i < perSplit; i++) {
    const s = splitSample(split, i);
    const file = `photos/${name}-${i}.png`;
    writeRgbPng(join(out, file), s.width, s.height, s.image);
    photos.push({ file, caption: `${label} #${i}` });
  }
}
const description = `${run}: ${summary.steps} steps, real-test mIoU ${(100 * summary.miou_real).toFixed(1)}, synthetic-val mIoU ${(100 * summary.miou_syn).toFixed(1)}`;
writeFileSync(join(out, 'samples.json'), JSON.stringify({ checkpoint: 'checkpoint.safetensors', description, photos }, null, 1) + '\n');
console.log(`wrote ${out}: ${description}`);
