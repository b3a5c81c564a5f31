// predict:seg: the tile grid (cells cover the image exactly once, windows inside it and of one size),
// the stitching (each cell's labels are those of its own window's forward), whole-image inference when
// one window covers the image, and the command on a folder of PNG, JPEG and a corrupt file.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, scope } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { argmax } from '../src/ops/index.js';
import { tileGrid, predictImage } from '../src/eval/predict.js';
import { loadSegmentationModel } from '../src/train/seg-model.js';
import { normalizeImage } from '../src/data/augment.js';
import { readPng } from '../src/data/png.js';
import { CITYSCAPES_PALETTE } from '../src/data/cityscapes.js';
import { useGpu } from './helpers.js';
import { encodeJpeg, encodePng, positionImage, tempDir, writeFile } from './data-fixtures.js';

const CHECKPOINT = join(import.meta.dirname, 'fixtures', 'pth', 'checkpoint.pth.tar');
const ROOT = join(import.meta.dirname, '..');

describe('tileGrid', () => {
  for (const [h, w, core, margin] of [
    [1024, 2048, 512, 64],
    [300, 451, 256, 32],
    [40, 56, 16, 4],
    [17, 9, 64, 8],
  ]) {
    test(`${h}×${w}, cells ${core}, margin ${margin}`, () => {
      const grid = tileGrid(h, w, { core, margin });
      const hits = new Uint8Array(h * w);
      for (const { window: win, core: c } of grid) {
        expect([win.width, win.height]).toEqual([Math.min(w, core + 2 * margin), Math.min(h, core + 2 * margin)]);
        expect(win.x >= 0 && win.y >= 0 && win.x + win.width <= w && win.y + win.height <= h).toBe(true);
        expect(c.x >= win.x && c.y >= win.y && c.x + c.width <= win.x + win.width && c.y + c.height <= win.y + win.height).toBe(true);
        for (let y = c.y; y < c.y + c.height; y++) for (let x = c.x; x < c.x + c.width; x++) hits[y * w + x]!++;
      }
      expect(hits.every((n) => n === 1)).toBe(true);
    });
  }
});

describe('predictImage on the reference-style checkpoint', () => {
  useGpu();
  const [h, w] = [40, 56];
  const image = { width: w, height: h, channels: 3, data: positionImage(w, h, 3) };

  async function windowLabels(model: ReturnType<typeof loadSegmentationModel>, x: number, y: number, ww: number, wh: number): Promise<Uint32Array> {
    const crop = new Uint8Array(ww * wh * 3);
    for (let r = 0; r < wh; r++) crop.set(image.data.subarray(((y + r) * w + x) * 3, ((y + r) * w + x + ww) * 3), r * ww * 3);
    const pred = noGrad(() => scope(() => argmax(model.model.forward(Tensor.from(normalizeImage(crop, ww, wh, model.norm), [1, 3, wh, ww])).logits, 1)));
    const out = (await pred.read()) as Uint32Array;
    pred.dispose();
    return out;
  }

  test('one window over the whole image is whole-image inference; tiles are stitched from their own windows', async () => {
    const loaded = loadSegmentationModel(CHECKPOINT);
    loaded.model.eval();
    const whole = await predictImage(loaded.model, image, loaded.norm, { core: 64, margin: 0 });
    expect(whole.tiles).toBe(1);
    expect([...whole.labels]).toEqual([...(await windowLabels(loaded, 0, 0, w, h))]);
    expect(whole.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);

    const tiles = { core: 24, margin: 4 };
    const tiled = await predictImage(loaded.model, image, loaded.norm, tiles);
    expect(tiled.tiles).toBe(6);
    expect(tiled.peakGpuBytes).toBeGreaterThan(tiled.modelGpuBytes);
    for (const { window: win, core: c } of tileGrid(h, w, tiles)) {
      const own = await windowLabels(loaded, win.x, win.y, win.width, win.height);
      for (let y = c.y; y < c.y + c.height; y++) {
        for (let x = c.x; x < c.x + c.width; x++) expect(tiled.labels[y * w + x]).toBe(own[(y - win.y) * win.width + x - win.x]);
      }
    }
    loaded.model.dispose();
  });
});

test('npm run predict:seg on a folder: PNG and JPEG labelled, a corrupt file named and skipped', () => {
  const dir = tempDir('predict');
  try {
    const input = join(dir, 'in');
    const out = join(dir, 'out');
    writeFile(join(input, 'a.png'), encodePng(30, 20, 2, 8, positionImage(30, 20, 1)));
    writeFile(join(input, 'b.jpg'), encodeJpeg(25, 33, positionImage(25, 33, 2)));
    writeFile(join(input, 'c.jpg'), 'not a jpeg');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/predict-seg.ts', '--ckpt', CHECKPOINT, '--input', input, '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CSG_WEBGPU_QUIET: '1' },
    });
    expect(r.stderr).toMatch(/skipped .*c\.jpg: corrupt image .*neither PNG nor JPEG/);
    expect(r.status).toBe(1);
    expect(readdirSync(out).sort()).toEqual(['a.json', 'a.labels.png', 'a.overlay.png', 'b.json', 'b.labels.png', 'b.overlay.png']);
    for (const [name, width, height] of [['a', 30, 20], ['b', 25, 33]] as const) {
      const labels = readPng(join(out, `${name}.labels.png`));
      expect([labels.width, labels.height, labels.channels]).toEqual([width, height, 1]);
      expect(labels.palette).toEqual(CITYSCAPES_PALETTE.slice(0, 2).map((c) => [...c]));
      expect(labels.data.every((v) => v < 2)).toBe(true);
      const report = JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8'));
      const counts = [0, 1].map((k) => labels.data.filter((v) => v === k).length / (width * height));
      expect(report.shares).toEqual({ 'class 0': counts[0], 'class 1': counts[1] });
      expect(r.stdout).toContain(`${name}.${name === 'a' ? 'png' : 'jpg'} (${width}×${height}`);
      const overlay = readPng(join(out, `${name}.overlay.png`));
      expect([overlay.width, overlay.height, overlay.channels]).toEqual([width, height, 3]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
