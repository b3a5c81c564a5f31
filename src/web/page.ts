// The web page (npm run web): a segmentation checkpoint and an image in, input | prediction overlay |
// class shares out, with the adapter named and the time per forward; N training steps of the
// embedded digits task with a live loss curve. The engine is the one Node runs, on navigator.gpu.
// For the browser tests the page leaves its state on document.body.dataset.state and its last
// result on window.csgPage.
import { initGpu, adapterName } from '../gpu/index.js';
import { parseSafetensors } from '../io/safetensors.js';
import { loadSegModel, segmentImage, type SegModel, type Segmentation } from '../eval/segment.js';
import { digitsClassNames, digitsPalette } from '../data/render-digits.js';
import type { TrainOptions } from '../train/options.js';
import { drawCurves, drawOverlay, drawRgb, drawShares, type Curve, type Rgb } from './draw.js';
import { trainInPage } from './train.js';

interface Picture {
  rgb: Uint8Array;
  width: number;
  height: number;
}

interface PageState {
  model: SegModel | null;
  checkpointName: string;
  trainingOptions: TrainOptions | null;
  picture: Picture | null;
  /** Shapes already run once (their first forward compiles kernels and is timed apart). */
  warmShapes: Set<string>;
  last: (Segmentation & { ms: number; firstMs: number | null }) | null;
  busy: boolean;
}

const state: PageState = { model: null, checkpointName: '', trainingOptions: null, picture: null, warmShapes: new Set(), last: null, busy: false };
(globalThis as { csgPage?: PageState }).csgPage = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function setState(s: 'loading' | 'busy' | 'ready' | 'error' | 'no-webgpu'): void {
  document.body.dataset.state = s;
}

function showError(e: unknown): void {
  const box = $('error');
  box.hidden = false;
  box.textContent = e instanceof Error ? e.message : String(e);
  setState('error');
  console.error(e);
}

/** Runs one page action at a time, reporting its error on the page. */
async function action(what: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  setState('busy');
  $('error').hidden = true;
  try {
    await what();
    setState('ready');
  } catch (e) {
    showError(e);
  } finally {
    state.busy = false;
  }
}

function classInfo(classes: number): { names: string[]; palette: Rgb[] } {
  if (classes === 2 || classes === 11) return { names: digitsClassNames(classes), palette: digitsPalette(classes) };
  const hues = digitsPalette(11).slice(1);
  return { names: Array.from({ length: classes }, (_, k) => `class ${k}`), palette: Array.from({ length: classes }, (_, k) => (k ? hues[(k - 1) % hues.length]! : [40, 40, 40])) };
}

function loadCheckpoint(bytes: Uint8Array, name: string): void {
  const file = parseSafetensors(bytes, name);
  state.model?.csg.dispose();
  state.model = loadSegModel(file, name);
  state.checkpointName = name;
  state.warmShapes.clear();
  state.trainingOptions = file.metadata.training_options ? (JSON.parse(file.metadata.training_options) as TrainOptions) : null;
  const c = state.model.config;
  const step = file.metadata.step ? `, step ${file.metadata.step}` : '';
  const norm = c.caffe ? 'Caffe/ImageNet input' : 'torchvision input';
  $('ckpt-info').textContent =
    `${name}: ResNet layers ${c.layers.join('.')}, width ${c.width}, head ${c.headWidth}, ${c.classes} classes${step}; ` +
    `${norm}${c.caffeFrom === 'width' ? ' (guessed from the width: no training_options in the file)' : ''}` +
    `${c.queueSize !== null ? `; CSG model, K ${c.queueSize}` : '; segmentation weights (the teacher starts as a copy)'}`;
  $<HTMLButtonElement>('train').disabled = !state.trainingOptions;
  $<HTMLButtonElement>('train').title = state.trainingOptions ? '' : 'training needs the training_options metadata that train:seg writes into its checkpoints';
}

/** Decodes an image without colour conversion; scales it so its longer side is the chosen size. */
async function decodePicture(blob: Blob): Promise<Picture> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const side = Number($<HTMLInputElement>('size').value);
  if (!Number.isInteger(side) || side < 16 || side > 512) throw new Error(`longer side: a whole number of pixels from 16 to 512 expected, got '${$<HTMLInputElement>('size').value}'`);
  const scale = side / Math.max(bitmap.width, bitmap.height);
  const width = Math.max(8, Math.round(bitmap.width * scale));
  const height = Math.max(8, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set(rgba.subarray(4 * p, 4 * p + 3), 3 * p);
  return { rgb, width, height };
}

/** Segments the current picture with the current model and shows it; times the forward. */
async function segmentAndShow(): Promise<void> {
  const { model, picture } = state;
  if (!model || !picture) return;
  drawRgb($<HTMLCanvasElement>('input'), picture.rgb, picture.width, picture.height);
  const shape = `${picture.width}x${picture.height}`;
  let firstMs: number | null = null;
  if (!state.warmShapes.has(shape)) {
    const t0 = performance.now();
    await segmentImage(model, picture.rgb, picture.width, picture.height);
    firstMs = performance.now() - t0;
    state.warmShapes.add(shape);
  }
  const times: number[] = [];
  let result: Segmentation | null = null;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    result = await segmentImage(model, picture.rgb, picture.width, picture.height);
    times.push(performance.now() - t0);
  }
  const ms = times.sort((a, b) => a - b)[1]!;
  state.last = { ...result!, ms, firstMs };
  const { names, palette } = classInfo(model.net.classes);
  drawOverlay($<HTMLCanvasElement>('overlay'), picture.rgb, result!.labels, picture.width, picture.height, palette);
  drawShares($('shares'), names, palette, result!.shares);
  $('timing').textContent =
    `forward ${picture.width}×${picture.height}: ${ms.toFixed(1)} ms (median of 3, labels read back)` +
    (firstMs === null ? '' : `; the first run, which compiles the kernels, took ${firstMs.toFixed(0)} ms`);
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

async function openFile(file: File): Promise<void> {
  if (file.name.endsWith('.safetensors')) loadCheckpoint(new Uint8Array(await file.arrayBuffer()), file.name);
  else if (file.type.startsWith('image/')) state.picture = await decodePicture(file);
  else throw new Error(`${file.name}: neither a .safetensors checkpoint nor an image`);
  await segmentAndShow();
}

let stopRequested = false;

async function train(): Promise<void> {
  const { model, trainingOptions } = state;
  if (!model || !trainingOptions) throw new Error('training needs a checkpoint with the training_options metadata that train:seg writes');
  const read = (id: string, min: number) => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isFinite(v) || v < min) throw new Error(`${id}: a number ≥ ${min} expected, got '${$<HTMLInputElement>(id).value}'`);
    return v;
  };
  const run = { steps: Math.round(read('steps', 1)), lambda: read('lambda', 0), lr: read('lr', 0), seed: 1 };
  const curves: Curve[] = [
    { name: 'total', colour: '#222', values: [] },
    { name: 'CE', colour: '#d62', values: [] },
  ];
  stopRequested = false;
  $<HTMLButtonElement>('stop').disabled = false;
  const t0 = performance.now();
  try {
    await trainInPage(
      model.csg,
      trainingOptions,
      model.norm,
      run,
      async (r) => {
        curves[0]!.values.push(r.total);
        curves[1]!.values.push(r.ce);
        drawCurves($<HTMLCanvasElement>('curve'), curves, run.steps);
        const rate = (r.it + 1) / ((performance.now() - t0) / 1000);
        $('train-status').textContent = `step ${r.it + 1}/${run.steps}: CE ${r.ce.toFixed(4)}, total ${r.total.toFixed(4)} (${rate.toFixed(2)} it/s)`;
        await new Promise((done) => setTimeout(done, 0)); // let the page paint
      },
      () => stopRequested,
    );
  } finally {
    $<HTMLButtonElement>('stop').disabled = true;
  }
  state.warmShapes.clear();
  await segmentAndShow();
}

async function start(): Promise<void> {
  if (!('gpu' in navigator)) {
    setState('no-webgpu');
    $('adapter').textContent = '';
    showError('This browser has no WebGPU (navigator.gpu is missing), so the engine cannot run here. Use Chrome or Edge 113+ (or Firefox/Safari with WebGPU enabled), on a machine with a GPU or with a software adapter.');
    setState('no-webgpu');
    return;
  }
  const gpu = await initGpu({ verbose: false });
  $('adapter').textContent = `WebGPU adapter: ${adapterName(gpu.adapter) || '(unnamed)'}; features: ${gpu.adapter.features.join(', ')}`;
  const samples = (await (await fetchOk('sample/samples.json')).json()) as { checkpoint: string; description: string; photos: { file: string; caption: string }[] };
  loadCheckpoint(new Uint8Array(await (await fetchOk(`sample/${samples.checkpoint}`)).arrayBuffer()), `sample/${samples.checkpoint}`);
  $('ckpt-info').textContent += ` (the sample: ${samples.description})`;
  $('samples').replaceChildren(
    'samples:',
    ...samples.photos.map(({ file, caption }) => {
      const b = document.createElement('button');
      b.textContent = caption;
      b.onclick = () =>
        action(async () => {
          state.picture = await decodePicture(await (await fetchOk(`sample/${file}`)).blob());
          await segmentAndShow();
        });
      return b;
    }),
  );
  state.picture = await decodePicture(await (await fetchOk(`sample/${samples.photos[0]!.file}`)).blob());
  await segmentAndShow();
}

$<HTMLInputElement>('ckpt').onchange = (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void action(() => openFile(f));
};
$<HTMLInputElement>('image').onchange = (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void action(() => openFile(f));
};
$('train').onclick = () => void action(train);
$('stop').onclick = () => (stopRequested = true);
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files[0];
  if (f) void action(() => openFile(f));
});
void action(start);
