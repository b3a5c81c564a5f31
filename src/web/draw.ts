// The page's pictures: an RGB image, the prediction over it, class shares as bars, loss curves.

export type Rgb = readonly [number, number, number];

function put(canvas: HTMLCanvasElement, width: number, height: number, pixel: (p: number, out: Uint8ClampedArray, at: number) => void): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    pixel(p, data.data, 4 * p);
    data.data[4 * p + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
}

export function drawRgb(canvas: HTMLCanvasElement, rgb: Uint8Array, width: number, height: number): void {
  put(canvas, width, height, (p, out, at) => out.set(rgb.subarray(3 * p, 3 * p + 3), at));
}

/** The input dimmed where the prediction is background (class 0), tinted with the class colour elsewhere. */
export function drawOverlay(canvas: HTMLCanvasElement, rgb: Uint8Array, labels: Uint8Array, width: number, height: number, palette: readonly Rgb[]): void {
  put(canvas, width, height, (p, out, at) => {
    const l = labels[p]!;
    for (let c = 0; c < 3; c++) out[at + c] = l === 0 ? 0.45 * rgb[3 * p + c]! : 0.35 * rgb[3 * p + c]! + 0.65 * palette[l]![c];
  });
}

export function drawShares(container: HTMLElement, names: readonly string[], palette: readonly Rgb[], shares: readonly number[]): void {
  container.replaceChildren(
    ...shares.map((share, k) => {
      const row = document.createElement('div');
      row.className = 'share';
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${(100 * share).toFixed(1)}%`;
      bar.style.background = `rgb(${palette[k]!.join(',')})`;
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = `${names[k]} ${(100 * share).toFixed(1)} %`;
      row.append(bar, label);
      return row;
    }),
  );
}

export interface Curve {
  name: string;
  colour: string;
  values: number[];
}

/** Loss curves on shared axes (step on x, loss from 0 on y). */
export function drawCurves(canvas: HTMLCanvasElement, curves: readonly Curve[], steps: number): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const pad = { left: 40, right: 10, top: 10, bottom: 22 };
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1e-6, ...curves.flatMap((c) => c.values.filter(Number.isFinite)));
  const x = (i: number) => pad.left + ((width - pad.left - pad.right) * i) / Math.max(1, steps - 1);
  const y = (v: number) => height - pad.bottom - ((height - pad.top - pad.bottom) * v) / top;
  ctx.strokeStyle = '#888';
  ctx.fillStyle = '#444';
  ctx.font = '11px sans-serif';
  ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
  ctx.fillText(top.toPrecision(3), 2, pad.top + 8);
  ctx.fillText('0', 2, height - pad.bottom);
  ctx.fillText(`step ${steps}`, width - pad.right - 50, height - 6);
  curves.forEach((c, k) => {
    ctx.strokeStyle = c.colour;
    ctx.beginPath();
    c.values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    ctx.fillStyle = c.colour;
    ctx.fillText(c.name, pad.left + 8 + 90 * k, height - 6);
  });
}
