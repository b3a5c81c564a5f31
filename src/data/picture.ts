// Pictures for people: segmentation strips (input | prediction | ground truth), labelled grids of
// classified images, line plots of training curves and scatter plots, drawn with plain pixel code and
// a 3×5 bitmap font, written as RGB PNGs.
import { writeRgbPng } from './png.js';

type Rgb = readonly [number, number, number];

/** An RGB canvas, HWC uint8. */
export class Canvas {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) this.data.set(background, p * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x >= 0 && y >= 0 && x < this.width && y < this.height) this.data.set(c, (y * this.width + x) * 3);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) this.set(xx, yy, c);
  }

  /** A line `thick` pixels wide (square pen), by stepping along its longer axis. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thick - 1) / 2;
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) this.set(x + dx, y + dy, c);
    }
  }

  /** Text in the 3×5 font, `scale` pixels per font pixel; returns the width drawn. */
  text(x: number, y: number, s: string, c: Rgb, scale = 2): number {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const rows = FONT[ch] ?? FONT['?'];
      rows.forEach((row, ry) => {
        for (let rx = 0; rx < 3; rx++) if (row[rx] === '#') this.rect(cx + rx * scale, y + ry * scale, scale, scale, c);
      });
      cx += 4 * scale;
    }
    return cx - x;
  }

  /** Copies an HWC RGB image, each pixel as a `scale`×`scale` block. */
  blit(x: number, y: number, img: Uint8Array, w: number, h: number, scale = 1): void {
    for (let yy = 0; yy < h * scale; yy++) {
      for (let xx = 0; xx < w * scale; xx++) {
        const p = (Math.floor(yy / scale) * w + Math.floor(xx / scale)) * 3;
        this.set(x + xx, y + yy, [img[p], img[p + 1], img[p + 2]]);
      }
    }
  }

  save(path: string): void {
    writeRgbPng(path, this.width, this.height, this.data);
  }
}

export const textWidth = (s: string, scale = 2) => s.length * 4 * scale;

// 3×5 glyphs, '#' = ink.
const FONT: Record<string, string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'], '1': ['.#.', '##.', '.#.', '.#.', '###'], '2': ['###', '..#', '###', '#..', '###'],
  '3': ['###', '..#', '.##', '..#', '###'], '4': ['#.#', '#.#', '###', '..#', '..#'], '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'], '7': ['###', '..#', '.#.', '.#.', '.#.'], '8': ['###', '#.#', '###', '#.#', '###'],
  '9': ['###', '#.#', '###', '..#', '###'], A: ['.#.', '#.#', '###', '#.#', '#.#'], B: ['##.', '#.#', '##.', '#.#', '##.'],
  C: ['.##', '#..', '#..', '#..', '.##'], D: ['##.', '#.#', '#.#', '#.#', '##.'], E: ['###', '#..', '##.', '#..', '###'],
  F: ['###', '#..', '##.', '#..', '#..'], G: ['.##', '#..', '#.#', '#.#', '.##'], H: ['#.#', '#.#', '###', '#.#', '#.#'],
  I: ['###', '.#.', '.#.', '.#.', '###'], J: ['..#', '..#', '..#', '#.#', '.#.'], K: ['#.#', '#.#', '##.', '#.#', '#.#'],
  L: ['#..', '#..', '#..', '#..', '###'], M: ['#.#', '###', '###', '#.#', '#.#'], N: ['##.', '#.#', '#.#', '#.#', '#.#'],
  O: ['.#.', '#.#', '#.#', '#.#', '.#.'], P: ['##.', '#.#', '##.', '#..', '#..'], Q: ['.#.', '#.#', '#.#', '##.', '.##'],
  R: ['##.', '#.#', '##.', '#.#', '#.#'], S: ['.##', '#..', '.#.', '..#', '##.'], T: ['###', '.#.', '.#.', '.#.', '.#.'],
  U: ['#.#', '#.#', '#.#', '#.#', '###'], V: ['#.#', '#.#', '#.#', '#.#', '.#.'], W: ['#.#', '#.#', '###', '###', '#.#'],
  X: ['#.#', '#.#', '.#.', '#.#', '#.#'], Y: ['#.#', '#.#', '.#.', '.#.', '.#.'], Z: ['###', '..#', '.#.', '#..', '###'],
  ' ': ['...', '...', '...', '...', '...'], '.': ['...', '...', '...', '...', '.#.'], ',': ['...', '...', '...', '.#.', '#..'],
  '-': ['...', '...', '###', '...', '...'], '+': ['...', '.#.', '###', '.#.', '...'], ':': ['...', '.#.', '...', '.#.', '...'],
  '/': ['..#', '..#', '.#.', '#..', '#..'], '%': ['#.#', '..#', '.#.', '#..', '#.#'], '=': ['...', '###', '...', '###', '...'],
  '(': ['.#.', '#..', '#..', '#..', '.#.'], ')': ['.#.', '..#', '..#', '..#', '.#.'], '|': ['.#.', '.#.', '.#.', '.#.', '.#.'],
  '_': ['...', '...', '...', '...', '###'], '?': ['##.', '..#', '.#.', '...', '.#.'],
};

// ---- segmentation strips ---------------------------------------------------------------------------

export interface StripRow {
  width: number;
  height: number;
  /** HWC RGB. */
  image: Uint8Array;
  prediction: ArrayLike<number>;
  truth: ArrayLike<number>;
  /** A line of text under the row (e.g. the image's index and IoU). */
  caption?: string;
}

/** Class ids → RGB with the palette; 255 (ignored) and unknown ids are black. */
export function colourize(labels: ArrayLike<number>, palette: readonly Rgb[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3);
  for (let i = 0; i < labels.length; i++) {
    const c = palette[labels[i]];
    if (c) out.set(c, i * 3);
  }
  return out;
}

/** One row per sample: input | prediction | ground truth, with column titles. */
/** Rows of text under a strip's images: the 3×5 font at scale 2 and a little air. */
const CAPTION_HEIGHT = 14;

export function segmentationStrip(rows: StripRow[], palette: readonly Rgb[], scale = 1): Canvas {
  const gap = 4;
  const top = 16;
  const w = Math.max(...rows.map((r) => r.width)) * scale;
  const captionHeight = rows.some((r) => r.caption) ? CAPTION_HEIGHT : 0;
  const canvas = new Canvas(3 * w + 4 * gap, top + rows.reduce((a, r) => a + r.height * scale + captionHeight + gap, 0), [255, 255, 255]);
  ['input', 'prediction', 'truth'].forEach((t, i) => canvas.text(gap + i * (w + gap) + (w - textWidth(t)) / 2, 3, t, [40, 40, 40]));
  let y = top;
  for (const r of rows) {
    canvas.blit(gap, y, r.image, r.width, r.height, scale);
    canvas.blit(2 * gap + w, y, colourize(r.prediction, palette), r.width, r.height, scale);
    canvas.blit(3 * gap + 2 * w, y, colourize(r.truth, palette), r.width, r.height, scale);
    y += r.height * scale;
    if (r.caption) canvas.text(gap, y + 2, r.caption, [40, 40, 40]);
    y += captionHeight + gap;
  }
  return canvas;
}

// ---- line plots ------------------------------------------------------------------------------------

export interface Series {
  name: string;
  /** [x, y] pairs; non-finite y values are gaps. */
  points: [number, number][];
  colour?: Rgb;
  /** Points as markers only, no lines between them (a scatter plot). */
  markers?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
  /** Fixed y range (default: the data's, padded). */
  yRange?: [number, number];
  /** Written under the x axis, at the right. */
  xLabel?: string;
}

const SERIES_COLOURS: Rgb[] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75]];

/** Ticks at 1, 2 or 5 × a power of ten, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

const formatTick = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));

function drawPanel(canvas: Canvas, panel: Panel, x0: number, y0: number, w: number, h: number): void {
  const ink: Rgb = [40, 40, 40];
  const grid: Rgb = [225, 225, 225];
  const pts = panel.series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let xLo = xs.length ? Math.min(...xs) : 0;
  let xHi = xs.length ? Math.max(...xs) : 1;
  if (panel.series.some((s) => s.markers)) {
    // Markers at the very edge would be cut in half.
    const pad = (xHi - xLo) * 0.08 || Math.abs(xHi) * 0.05 || 1;
    xLo -= pad;
    xHi += pad;
  }
  let [yLo, yHi] = panel.yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (!panel.yRange) {
    const pad = (yHi - yLo) * 0.05 || Math.abs(yHi) * 0.05 || 1;
    yLo -= pad;
    yHi += pad;
  }
  const left = x0 + 56;
  const right = x0 + w - 20;
  const top = y0 + 22;
  const bottom = y0 + h - 26;
  const px = (x: number) => left + ((x - xLo) / (xHi - xLo || 1)) * (right - left);
  const py = (y: number) => bottom - ((y - yLo) / (yHi - yLo || 1)) * (bottom - top);
  canvas.text(left, y0 + 4, panel.title, ink);
  if (panel.xLabel) canvas.text(right - textWidth(panel.xLabel), y0 + h - 12, panel.xLabel, ink);
  for (const t of niceTicks(yLo, yHi)) {
    canvas.line(left, py(t), right, py(t), grid);
    const label = formatTick(t);
    canvas.text(left - 6 - textWidth(label), py(t) - 5, label, ink);
  }
  for (const t of niceTicks(xLo, xHi, 6)) {
    canvas.line(px(t), top, px(t), bottom, grid);
    canvas.line(px(t), bottom, px(t), bottom + 4, ink);
    const label = formatTick(t);
    canvas.text(px(t) - textWidth(label) / 2, bottom + 8, label, ink);
  }
  canvas.line(left, top, left, bottom, ink);
  canvas.line(left, bottom, right, bottom, ink);
  panel.series.forEach((s, i) => {
    const colour = s.colour ?? SERIES_COLOURS[i % SERIES_COLOURS.length];
    let prev: [number, number] | null = null;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) {
        prev = null;
        continue;
      }
      const p: [number, number] = [px(x), py(Math.min(yHi, Math.max(yLo, y)))];
      if (s.markers) {
        canvas.rect(p[0] - 3, p[1] - 3, 7, 7, colour);
        continue;
      }
      if (prev) canvas.line(prev[0], prev[1], p[0], p[1], colour, 2);
      else canvas.rect(p[0] - 1, p[1] - 1, 3, 3, colour);
      prev = p;
    }
    // Legend, top right, one line per series.
    const lx = right - textWidth(s.name) - 24;
    const ly = top + 4 + i * 14;
    canvas.rect(lx, ly + 3, 14, 3, colour);
    canvas.text(lx + 20, ly, s.name, ink);
  });
}

/** Panels stacked vertically (e.g. loss, then mIoU), x axis in steps. */
export function linePlot(panels: Panel[], width = 560, panelHeight = 240): Canvas {
  const canvas = new Canvas(width, panels.length * panelHeight);
  panels.forEach((p, i) => drawPanel(canvas, p, 0, i * panelHeight, width, panelHeight));
  return canvas;
}

// ---- data set samples ------------------------------------------------------------------------------

export interface SampleSection {
  title: string;
  width: number;
  height: number;
  /** Per sample: HWC RGB image and its label map. */
  samples: { image: Uint8Array; label: ArrayLike<number> }[];
}

/** Sections of samples, each a titled row of images above a row of their colourized labels. */
export function sampleGrid(sections: SampleSection[], palette: readonly Rgb[], scale = 1): Canvas {
  const gap = 3;
  const title = 16;
  const columns = Math.max(...sections.map((s) => s.samples.length));
  const cellW = Math.max(...sections.map((s) => s.width)) * scale;
  const height = sections.reduce((a, s) => a + title + 2 * (s.height * scale + gap), gap);
  const canvas = new Canvas(gap + columns * (cellW + gap), height);
  let y = gap;
  for (const s of sections) {
    canvas.text(gap, y + 3, s.title, [40, 40, 40]);
    y += title;
    s.samples.forEach((sample, i) => {
      const x = gap + i * (cellW + gap);
      canvas.blit(x, y, sample.image, s.width, s.height, scale);
      canvas.blit(x, y + s.height * scale + gap, colourize(sample.label, palette), s.width, s.height, scale);
    });
    y += 2 * (s.height * scale + gap);
  }
  return canvas;
}

// ---- classified images -----------------------------------------------------------------------------

export interface ClassifiedImage {
  width: number;
  height: number;
  /** HWC RGB. */
  image: Uint8Array;
  predicted: string;
  truth: string;
}

/** A grid of images, each captioned `predicted/truth`; a wrong prediction gets a red frame and red text. */
export function classificationGrid(items: ClassifiedImage[], columns: number, scale = 1): Canvas {
  const gap = 6;
  const caption = 14;
  const cellW = Math.max(...items.map((i) => i.width)) * scale;
  const cellH = Math.max(...items.map((i) => i.height)) * scale;
  const rows = Math.ceil(items.length / columns);
  const canvas = new Canvas(gap + columns * (cellW + gap), gap + rows * (cellH + caption + gap));
  items.forEach((item, i) => {
    const x = gap + (i % columns) * (cellW + gap);
    const y = gap + Math.floor(i / columns) * (cellH + caption + gap);
    const wrong = item.predicted !== item.truth;
    const colour: Rgb = wrong ? [214, 39, 40] : [40, 40, 40];
    if (wrong) canvas.rect(x - 3, y - 3, item.width * scale + 6, item.height * scale + 6, colour);
    canvas.blit(x, y, item.image, item.width, item.height, scale);
    canvas.text(x, y + item.height * scale + 3, `${item.predicted}/${item.truth}`, colour);
  });
  return canvas;
}
