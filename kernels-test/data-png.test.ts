import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { DataError, pngSize, readLabelPng, readPng, readRgb, writeGreyPng, writePalettePng, writeRgbPng } from '../src/data/png.js';
import { encodePng, positionImage, tempDir, writeFile } from './data-fixtures.js';
import { rng } from './helpers.js';

const dir = tempDir('png');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readPng', () => {
  test('an 8-bit palette PNG gives its indices, not its colours', () => {
    // A GTA5-like label: indices are Cityscapes ids; the palette maps them to unrelated colours.
    const palette = Array.from({ length: 34 }, (_, i) => [255 - i, (i * 7) & 255, 100]);
    const ids = [7, 8, 11, 26, 0, 33, 24, 7, 21, 23, 17, 1];
    const path = join(dir, 'palette.png');
    writeFile(path, encodePng(4, 3, 3, 8, ids, palette));
    const img = readPng(path);
    expect([img.width, img.height, img.channels]).toEqual([4, 3, 1]);
    expect(Array.from(img.data)).toEqual(ids);
    expect(img.palette?.[7]).toEqual([248, 49, 100]);
    expect(Array.from(readLabelPng(path).data)).toEqual(ids);
  });

  test.each([1, 2, 4])('a %i-bit palette PNG is unpacked to one index per pixel', (depth) => {
    const n = 1 << depth;
    const palette = Array.from({ length: n }, (_, i) => [i, i, i]);
    const indices = Array.from({ length: 5 * 3 }, (_, i) => (i * 3 + 1) % n);
    const path = join(dir, `palette${depth}.png`);
    writeFile(path, encodePng(5, 3, 3, depth, indices, palette));
    expect(Array.from(readPng(path).data)).toEqual(indices);
  });

  test('grey, grey+alpha, RGB, RGBA and 16-bit read as RGB', () => {
    const rgb = positionImage(3, 2, 9);
    const grey = [0, 50, 100, 150, 200, 250];
    const cases: [string, Buffer, number[]][] = [
      ['rgb', encodePng(3, 2, 2, 8, rgb), Array.from(rgb)],
      ['rgba', encodePng(3, 2, 6, 8, Array.from({ length: 6 }, (_, p) => [...rgb.slice(3 * p, 3 * p + 3), 128]).flat()), Array.from(rgb)],
      ['grey', encodePng(3, 2, 0, 8, grey), grey.flatMap((g) => [g, g, g])],
      ['greyalpha', encodePng(3, 2, 4, 8, grey.flatMap((g) => [g, 255])), grey.flatMap((g) => [g, g, g])],
      ['rgb16', encodePng(3, 2, 2, 16, Array.from(rgb, (v) => v * 257)), Array.from(rgb)],
      ['grey4', encodePng(3, 2, 0, 4, [0, 3, 6, 9, 12, 15]), [0, 51, 102, 153, 204, 255].flatMap((g) => [g, g, g])],
    ];
    for (const [name, bytes, expected] of cases) {
      const path = join(dir, `${name}.png`);
      writeFile(path, bytes);
      const img = readRgb(path);
      expect([name, img.width, img.height, img.channels]).toEqual([name, 3, 2, 3]);
      expect([name, Array.from(img.data)]).toEqual([name, expected]);
    }
  });

  test('palette PNG read as RGB uses the palette colours', () => {
    const path = join(dir, 'palette-rgb.png');
    writeFile(path, encodePng(2, 1, 3, 8, [1, 0], [[1, 2, 3], [4, 5, 6]]));
    expect(Array.from(readRgb(path).data)).toEqual([4, 5, 6, 1, 2, 3]);
  });

  test('writers round-trip', () => {
    const rgb = positionImage(5, 4, 3);
    writeRgbPng(join(dir, 'out', 'rgb.png'), 5, 4, rgb);
    expect(readRgb(join(dir, 'out', 'rgb.png')).data).toEqual(rgb);
    const grey = Uint8Array.from({ length: 20 }, (_, i) => i * 12);
    writeGreyPng(join(dir, 'out', 'grey.png'), 5, 4, grey);
    expect(readPng(join(dir, 'out', 'grey.png')).data).toEqual(grey);
    const idx = Uint8Array.from({ length: 20 }, (_, i) => i % 3);
    writePalettePng(join(dir, 'out', 'pal.png'), 5, 4, idx, [[9, 9, 9], [1, 1, 1], [5, 5, 5]]);
    const back = readPng(join(dir, 'out', 'pal.png'));
    expect(back.palette).toBeDefined();
    expect(back.data).toEqual(idx);
    expect(pngSize(join(dir, 'out', 'pal.png'))).toEqual({ width: 5, height: 4 });
    expect(() => writeRgbPng(join(dir, 'bad.png'), 5, 4, new Uint8Array(10))).toThrow(/60|5x4/);
  });
});

describe('bad PNG input', () => {
  test('a missing file is named', () => {
    const path = join(dir, 'nope.png');
    expect(() => readPng(path)).toThrow(DataError);
    expect(() => readPng(path)).toThrow(`missing file: ${path}`);
    expect(() => pngSize(path)).toThrow(`missing file: ${path}`);
  });

  test('corrupt and truncated files are named', () => {
    const garbage = join(dir, 'garbage.png');
    writeFile(garbage, 'this is not a png at all, just text');
    expect(() => readPng(garbage)).toThrow(`corrupt PNG ${garbage}`);
    expect(() => pngSize(garbage)).toThrow(`corrupt PNG ${garbage}`);
    const whole = encodePng(8, 6, 2, 8, positionImage(8, 6));
    const truncated = join(dir, 'truncated.png');
    writeFile(truncated, whole.subarray(0, whole.length - 30));
    expect(() => readPng(truncated)).toThrow(`corrupt PNG ${truncated}`);
  });

  test('an RGB label is refused', () => {
    const path = join(dir, 'rgb-label.png');
    writeFile(path, encodePng(2, 2, 2, 8, positionImage(2, 2)));
    expect(() => readLabelPng(path)).toThrow(/label PNG .*rgb-label.png has 3 channels/);
  });
});

describe('filters', () => {
  test('rows written with every PNG filter type (pngjs adaptive filtering) decode exactly', () => {
    const w = 37;
    const h = 23;
    const rgba = Buffer.alloc(w * h * 4);
    const r = rng(9);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // Smooth ramps (Sub/Up/Average/Paeth win) mixed with noise rows (None wins).
        const noisy = y % 5 === 0;
        const v = [x * 6 + y, y * 9, (x * y) & 255].map((c) => (noisy ? Math.floor(r() * 256) : c));
        v.push(255);
        rgba.set(v, (y * w + x) * 4);
      }
    }
    for (const [filterType, colorType] of [[-1, 6], [-1, 2], [1, 2], [2, 2], [3, 6], [4, 6]]) {
      const path = join(dir, `filter${filterType}-${colorType}.png`);
      writeFile(path, PNG.sync.write(Object.assign(new PNG({ width: w, height: h }), { data: rgba }), { filterType, colorType, inputHasAlpha: true } as never));
      const img = readPng(path);
      const channels = colorType === 6 ? 4 : 3;
      expect(img.channels).toBe(channels);
      const expected = Array.from({ length: w * h * channels }, (_, i) => rgba[Math.floor(i / channels) * 4 + (i % channels)]);
      expect(Buffer.compare(Buffer.from(img.data), Buffer.from(expected))).toBe(0);
    }
  });
});

describe('label values', () => {
  test('grey labels keep their values at any depth; 16-bit ids above 255 are refused', () => {
    const cases: [string, Buffer, number[]][] = [
      ['label4', encodePng(4, 1, 0, 4, [0, 1, 7, 15]), [0, 1, 7, 15]],
      ['label16', encodePng(4, 1, 0, 16, [0, 1, 18, 255]), [0, 1, 18, 255]],
    ];
    for (const [name, bytes, expected] of cases) {
      const path = join(dir, `${name}.png`);
      writeFile(path, bytes);
      expect([name, Array.from(readLabelPng(path).data)]).toEqual([name, expected]);
    }
    expect(Array.from(readPng(join(dir, 'label4.png')).data)).toEqual([0, 17, 119, 255]);
    const big = join(dir, 'label16big.png');
    writeFile(big, encodePng(2, 1, 0, 16, [3, 300]));
    expect(() => readLabelPng(big)).toThrow(/label PNG .*label16big.png has 16-bit value 300 at sample 1/);
  });
});

describe('interlaced (Adam7) PNGs', () => {
  test.each([
    ['rgb 8-bit', 2, 8],
    ['palette 8-bit', 3, 8],
    ['palette 4-bit', 3, 4],
    ['grey 16-bit', 0, 16],
  ] as const)('%s decodes like the plain image', (_name, colourType, depth) => {
    const [w, h] = [11, 9];
    const channels = colourType === 2 ? 3 : 1;
    const max = depth === 16 ? 65535 : (1 << depth) - 1;
    const samples = Array.from({ length: w * h * channels }, (_, i) => (i * 37 + 5) % (max + 1));
    const palette = colourType === 3 ? Array.from({ length: 1 << depth }, (_, i) => [i, 255 - i, 7]) : undefined;
    const plain = join(dir, `plain-${colourType}-${depth}.png`);
    const laced = join(dir, `adam7-${colourType}-${depth}.png`);
    writeFile(plain, encodePng(w, h, colourType, depth, samples, palette));
    writeFile(laced, encodePng(w, h, colourType, depth, samples, palette, true));
    const a = readPng(plain);
    const b = readPng(laced);
    expect([b.width, b.height, b.channels]).toEqual([w, h, channels]);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    expect(b.palette).toEqual(a.palette);
    if (colourType === 3) expect(Array.from(readLabelPng(laced).data)).toEqual(samples);
  });
});
