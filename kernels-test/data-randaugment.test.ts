import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOp, drawRandAugment, opValue, randAugment, RANDAUGMENT_OPS, type RandAugmentOp, type RgbImage } from '../src/data/randaugment.js';
import { readRgb } from '../src/data/png.js';
import { Rng } from '../src/data/rng.js';

// Expected outputs from PIL 9.4 (kernels-test/fixtures/make_randaugment.py), the library CSG's reference
// RandAugment calls: every op must match them exactly (0 differing channel values).
const FIXTURES = join(import.meta.dirname, 'fixtures', 'randaugment');

interface Case {
  name: string;
  file: string;
  op: string;
  magnitude: number;
  sign: number;
}
const index = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')) as { pil: string; cases: Case[] };
const read = (file: string): RgbImage => {
  const img = readRgb(join(FIXTURES, file));
  return { width: img.width, height: img.height, data: img.data };
};
const input = read('input.png');
const opCases = index.cases.filter((c) => RANDAUGMENT_OPS.some(([op]) => op === c.op));

/** The reference's value for magnitude m on the op's range, with the sign applied. */
function value(c: Case): number {
  const [, lo, hi] = RANDAUGMENT_OPS.find(([op]) => op === c.op)!;
  return c.sign * ((c.magnitude / 30) * (hi - lo) + lo);
}

function mismatches(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

test('the fixtures cover every op of the list, both signs of each signed op, at two magnitudes', () => {
  expect(index.pil).toBe('9.4.0');
  expect([input.width, input.height]).toEqual([40, 32]);
  expect(new Set(opCases.map((c) => c.op))).toEqual(new Set(RANDAUGMENT_OPS.map(([op]) => op)));
  expect(opCases.length).toBe(43);
});

test.each(opCases.map((c) => [c.name, c] as const))('%s matches PIL exactly', (_name, c) => {
  const expected = read(c.file);
  const got = applyOp(input, c.op as RandAugmentOp, value(c));
  expect([got.width, got.height]).toEqual([expected.width, expected.height]);
  expect(mismatches(got.data, expected.data)).toBe(0);
  // Every op but Identity changes this image (AutoContrast and Equalize included: no channel spans 0–255).
  if (c.op !== 'Identity') expect(mismatches(got.data, input.data)).toBeGreaterThan(0);
});

test('the draws decide sign and application as the reference does, and the stream does not depend on the ops', () => {
  const rotate = RANDAUGMENT_OPS.findIndex(([op]) => op === 'Rotate');
  const autoContrast = RANDAUGMENT_OPS.findIndex(([op]) => op === 'AutoContrast');
  const posterize = RANDAUGMENT_OPS.findIndex(([op]) => op === 'Posterize');
  expect(opValue({ op: rotate, draw: 0.5 }, 6)).toBeCloseTo(6, 12);
  expect(opValue({ op: rotate, draw: 0.51 }, 6)).toBeCloseTo(-6, 12);
  expect(opValue({ op: autoContrast, draw: 0.2 }, 6)).not.toBeNull();
  expect(opValue({ op: autoContrast, draw: 0.21 }, 6)).toBeNull();
  expect(opValue({ op: posterize, draw: 0.9 }, 6)).toBeCloseTo(1.4, 12);
  const translate = RANDAUGMENT_OPS.findIndex(([op]) => op === 'TranslateX');
  expect(opValue({ op: translate, draw: 0 }, 6, 10)).toBeCloseTo(2, 12);

  // Two draws per op whatever was drawn: after N ops the generator has advanced 2N values.
  const rng = new Rng(7);
  const draws = drawRandAugment(rng, 3);
  const ref = new Rng(7);
  for (let i = 0; i < 6; i++) ref.next();
  expect(rng.next()).toBe(ref.next());
  expect(draws.every((d) => Number.isInteger(d.op) && d.op >= 0 && d.op < 14 && d.draw >= 0 && d.draw < 1)).toBe(true);
  // Ops are drawn uniformly from the 14.
  const counts = new Array(14).fill(0);
  for (const d of drawRandAugment(new Rng(1), 14000)) counts[d.op]++;
  expect(Math.min(...counts)).toBeGreaterThan(850);
  expect(Math.max(...counts)).toBeLessThan(1150);
});

test('randAugment applies its drawn ops in order and is a pure function of the draws', () => {
  const draws = [
    { op: RANDAUGMENT_OPS.findIndex(([op]) => op === 'Rotate'), draw: 0.9 },
    { op: RANDAUGMENT_OPS.findIndex(([op]) => op === 'Solarize'), draw: 0.1 },
  ];
  const both = randAugment(input, draws, 6);
  const stepwise = applyOp(applyOp(input, 'Rotate', -6), 'Solarize', 51.2);
  expect(mismatches(both.data, stepwise.data)).toBe(0);
  expect(mismatches(randAugment(input, draws, 6).data, both.data)).toBe(0);
  expect(randAugment(input, [], 6)).toBe(input);
  expect(() => randAugment(input, draws, 31)).toThrow('RandAugment magnitude 31 must be in 0..30');
});
