// Hand-designed stroke glyphs for the digits 0–9, two styles each, as centre-lines in a box 0.6 wide
// and 1 tall (y down). Rendering them with a wide pen, slant, rotation and scale gives the synthetic
// domain of the embedded data set without any font file.

/** An elliptic arc: centre, radii, and start/end angles in degrees (counter-clockwise, y up). */
interface Arc {
  arc: [cx: number, cy: number, rx: number, ry: number, from: number, to: number];
}
type Stroke = [number, number][] | Arc;

const STYLES: Stroke[][][] = [
  // 0
  [[{ arc: [0.3, 0.5, 0.28, 0.48, 0, 360] }], [{ arc: [0.3, 0.5, 0.22, 0.48, 0, 360] }, [[0.12, 0.8], [0.48, 0.2]]]],
  // 1
  [[[[0.12, 0.2], [0.34, 0], [0.34, 1]]], [[[0.14, 0.16], [0.32, 0], [0.32, 1]], [[0.1, 1], [0.54, 1]]]],
  // 2
  [
    [{ arc: [0.3, 0.27, 0.26, 0.26, 165, -35] }, [[0.51, 0.42], [0.02, 1], [0.6, 1]]],
    [{ arc: [0.3, 0.3, 0.27, 0.28, 170, -10] }, [[0.57, 0.35], [0.3, 0.65], [0.02, 1], [0.58, 0.98]]],
  ],
  // 3
  [
    [{ arc: [0.29, 0.26, 0.25, 0.24, 150, -90] }, { arc: [0.29, 0.74, 0.28, 0.26, 90, -150] }],
    [[[0.04, 0], [0.56, 0], [0.26, 0.42]], { arc: [0.29, 0.7, 0.28, 0.29, 100, -150] }],
  ],
  // 4
  [[[[0.46, 1], [0.46, 0], [0, 0.7], [0.6, 0.7]]], [[[0.1, 0], [0.03, 0.62], [0.6, 0.62]], [[0.44, 0.3], [0.44, 1]]]],
  // 5
  [
    [[[0.56, 0], [0.1, 0], [0.06, 0.46]], { arc: [0.3, 0.69, 0.27, 0.3, 140, -150] }],
    [[[0.54, 0.02], [0.12, 0.02], [0.08, 0.44], [0.3, 0.4]], { arc: [0.28, 0.7, 0.28, 0.29, 90, -160] }],
  ],
  // 6
  [
    [[[0.5, 0], [0.08, 0.56]], { arc: [0.3, 0.69, 0.25, 0.3, 0, 360] }],
    [{ arc: [0.6, 0.62, 0.52, 0.6, 100, 185] }, { arc: [0.31, 0.72, 0.24, 0.27, 0, 360] }],
  ],
  // 7
  [[[[0, 0], [0.6, 0], [0.2, 1]]], [[[0.02, 0.06], [0.02, 0], [0.58, 0], [0.28, 1]], [[0.16, 0.52], [0.52, 0.52]]]],
  // 8
  [
    [{ arc: [0.3, 0.25, 0.22, 0.24, 0, 360] }, { arc: [0.3, 0.73, 0.27, 0.26, 0, 360] }],
    [{ arc: [0.3, 0.27, 0.24, 0.26, 0, 360] }, { arc: [0.3, 0.75, 0.25, 0.24, 0, 360] }],
  ],
  // 9
  [
    [{ arc: [0.3, 0.31, 0.26, 0.3, 0, 360] }, [[0.56, 0.31], [0.5, 1]]],
    [{ arc: [0.3, 0.3, 0.25, 0.29, 0, 360] }, { arc: [0.0, 0.35, 0.55, 0.65, 5, -70] }],
  ],
];

export const GLYPH_STYLES = 2;

function flatten(s: Stroke): [number, number][] {
  if (Array.isArray(s)) return s;
  const [cx, cy, rx, ry, from, to] = s.arc;
  const steps = Math.max(8, Math.ceil(Math.abs(to - from) / 10));
  const pts: [number, number][] = [];
  for (let i = 0; i <= steps; i++) {
    const a = ((from + ((to - from) * i) / steps) * Math.PI) / 180;
    pts.push([cx + rx * Math.cos(a), cy - ry * Math.sin(a)]);
  }
  return pts;
}

/** Segments [x0, y0, x1, y1] of a digit's centre-lines in glyph units, centred on (0, 0). */
export function glyphSegments(digit: number, style: number): number[][] {
  const segs: number[][] = [];
  for (const stroke of STYLES[digit][style % GLYPH_STYLES]) {
    const pts = flatten(stroke);
    for (let i = 0; i + 1 < pts.length; i++) segs.push([pts[i][0] - 0.3, pts[i][1] - 0.5, pts[i + 1][0] - 0.3, pts[i + 1][1] - 0.5]);
  }
  return segs;
}

export interface Pen {
  /** Glyph centre in pixels. */
  cx: number;
  cy: number;
  /** Glyph height in pixels (the box is 0.6 × height wide, times `aspect`). */
  height: number;
  aspect: number;
  /** Horizontal shear (x += slant · y before rotation). */
  slant: number;
  /** Rotation in radians. */
  rotation: number;
  /** Stroke width in pixels. */
  width: number;
}

/** Squared distance from each pixel centre to the nearest centre-line, min-merged into `dist2` (only near
 *  strokes). The inner loop avoids Math calls: under jest's vm context they are ~30× slower. */
export function strokeDistance2(digit: number, style: number, pen: Pen, size: number, dist2: Float32Array): void {
  const cos = Math.cos(pen.rotation);
  const sin = Math.sin(pen.rotation);
  const map = (x: number, y: number): [number, number] => {
    const gx = (x * pen.aspect + pen.slant * -y) * pen.height;
    const gy = y * pen.height;
    return [pen.cx + cos * gx - sin * gy, pen.cy + sin * gx + cos * gy];
  };
  const reach = pen.width / 2 + 1;
  for (const [x0, y0, x1, y1] of glyphSegments(digit, style)) {
    const [ax, ay] = map(x0, y0);
    const [bx, by] = map(x1, y1);
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy || 1e-9;
    const xLo = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
    const xHi = Math.min(size - 1, Math.ceil(Math.max(ax, bx) + reach));
    const yLo = Math.max(0, Math.floor(Math.min(ay, by) - reach));
    const yHi = Math.min(size - 1, Math.ceil(Math.max(ay, by) + reach));
    for (let y = yLo; y <= yHi; y++) {
      for (let x = xLo; x <= xHi; x++) {
        const px = x + 0.5 - ax;
        const py = y + 0.5 - ay;
        const along = (px * dx + py * dy) / len2;
        const t = along < 0 ? 0 : along > 1 ? 1 : along;
        const ex = px - t * dx;
        const ey = py - t * dy;
        const d2 = ex * ex + ey * ey;
        if (d2 < dist2[y * size + x]) dist2[y * size + x] = d2;
      }
    }
  }
}
