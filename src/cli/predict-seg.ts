// npm run predict:seg -- --ckpt RUN_DIR|FILE --input FILE|DIR --out DIR [--tile 512] [--margin 64]
// Segments PNG or JPEG photos of any size with a checkpoint (ours or a PyTorch .pth/.pth.tar). For each
// image NAME it writes NAME.labels.png (8-bit palette PNG: pixel = class index, the classes' colours as
// its palette), NAME.overlay.png (the classes' colours over the photo) and NAME.json (class shares, size,
// tiles, GPU memory peak, time), and prints the shares. A folder gets a progress bar; an unreadable image
// is named and skipped, the others are still written (exit status 1 at the end).
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { initGpu, closeGpu } from '../gpu/index.js';
import { loadSegmentationModel, classInfo } from '../train/seg-model.js';
import { predictImage, overlay, DEFAULT_TILES, type TileOptions } from '../eval/predict.js';
import { readImageFile, IMAGE_FILE_PATTERN } from '../data/image-file.js';
import { writePalettePng, writeRgbPng } from '../data/png.js';
import { writeFileAtomic } from '../io/atomic.js';

const USAGE = 'npm run predict:seg -- --ckpt RUN_DIR|FILE --input FILE|DIR --out DIR [--tile 512] [--margin 64]';
const MIB = 2 ** 20;

function positiveInt(flag: string, v: string | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}: '${v}' must be an integer ≥ ${min}`);
  return n;
}

function inputFiles(input: string): string[] {
  if (!existsSync(input)) throw new Error(`--input: ${input} does not exist`);
  if (!statSync(input).isDirectory()) return [input];
  const files = readdirSync(input).filter((f) => IMAGE_FILE_PATTERN.test(f)).sort().map((f) => join(input, f));
  if (files.length === 0) throw new Error(`--input: ${input} holds no .png, .jpg or .jpeg file`);
  return files;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { ckpt: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, tile: { type: 'string' }, margin: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help || !values.ckpt || !values.input || !values.out) {
    console.log(`${USAGE}\n  --tile N    side of the cells one forward labels (default ${DEFAULT_TILES.core}); --margin M  context around each (default ${DEFAULT_TILES.margin})`);
    return values.help ? 0 : 1;
  }
  const tiles: TileOptions = { core: positiveInt('tile', values.tile, DEFAULT_TILES.core, 8), margin: positiveInt('margin', values.margin, DEFAULT_TILES.margin, 0) };
  const files = inputFiles(values.input);
  await initGpu();
  const loaded = loadSegmentationModel(values.ckpt);
  const classes = classInfo(loaded.file, loaded.architecture.classes);
  process.stderr.write(`${loaded.description}\nclasses: ${classes.source}; tiles ${tiles.core}² cells with ${tiles.margin} px of context\n`);
  mkdirSync(values.out, { recursive: true });
  const bar = files.length > 1 ? new cliProgress.SingleBar({ format: 'predict {bar} {value}/{total} images | {file}', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  bar?.start(files.length, 0, { file: '' });
  const failed: string[] = [];
  const lines: string[] = [];
  for (const file of files) {
    const name = basename(file).replace(IMAGE_FILE_PATTERN, '');
    try {
      const started = performance.now();
      const image = readImageFile(file);
      const p = await predictImage(loaded.model, image, loaded.norm, tiles);
      const seconds = (performance.now() - started) / 1000;
      writePalettePng(join(values.out, `${name}.labels.png`), image.width, image.height, p.labels, classes.palette);
      writeRgbPng(join(values.out, `${name}.overlay.png`), image.width, image.height, overlay(image, p.labels, classes.palette));
      const shares = classes.names.map((n, k) => ({ class: n, share: p.shares[k]! })).sort((a, b) => b.share - a.share);
      const report = {
        image: file,
        width: image.width,
        height: image.height,
        checkpoint: loaded.file,
        shares: Object.fromEntries(shares.map((s) => [s.class, s.share])),
        tiles: { count: p.tiles, ...tiles },
        gpu_peak_mib: p.peakGpuBytes / MIB,
        gpu_model_mib: p.modelGpuBytes / MIB,
        seconds,
      };
      writeFileAtomic(join(values.out, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
      const line = `${file} (${image.width}×${image.height}, ${p.tiles} tile${p.tiles > 1 ? 's' : ''}, ${seconds.toFixed(1)} s, GPU peak ${(p.peakGpuBytes / MIB).toFixed(0)} MiB of which the model ${(p.modelGpuBytes / MIB).toFixed(0)}): ${shares
        .filter((s) => s.share > 0)
        .map((s) => `${s.class} ${(100 * s.share).toFixed(1)}%`)
        .join(', ')}`;
      if (bar) lines.push(line); // printed under the bar once it is done
      else process.stdout.write(`${line}\n`);
    } catch (e) {
      failed.push(`skipped ${file}: ${(e as Error).message}`);
    }
    bar?.increment(1, { file: basename(file) });
  }
  bar?.stop();
  for (const line of lines) process.stdout.write(`${line}\n`);
  for (const line of failed) process.stderr.write(`predict:seg: ${line}\n`);
  process.stderr.write(`wrote ${files.length - failed.length} × (NAME.labels.png, NAME.overlay.png, NAME.json) to ${values.out}${failed.length ? `; ${failed.length} skipped` : ''}\n`);
  closeGpu();
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`predict:seg: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
