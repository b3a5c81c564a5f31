// The engine in a real browser: headless Chromium (puppeteer-core) with WebGPU runs the kernel tests
// of kernels-test/browser/kernels-page.ts against the float64 CPU references, and the web page
// segments the sample photos with the sample checkpoint (assets/web) with the same labels as Node, and
// bench.html times a case of `npm run bench -- --browser`.
// Without Chromium (scripts/setup.mjs --browser installs it on Debian/Ubuntu as root) it skips, saying why.
import { join } from 'node:path';
import type { ElementHandle, Page } from 'puppeteer-core';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { readRgb } from '../src/data/png.js';
import { loadSegModel, segmentImage } from '../src/eval/segment.js';
import { ROOT } from '../src/cli/web-build.js';
import { useGpu } from './helpers.js';
import { findChromium, startWebSession, type WebSession } from './browser/chromium.js';
import { benchInPage } from '../bench/browser/run-in-chromium.js';
import { browserSubset } from '../bench/browser/subset.js';
import { formatRow } from '../bench/harness.js';

const chromium = findChromium();
if (!chromium) {
  process.stderr.write(
    '\n********************************************************************************\n' +
      '* SKIPPING the browser tests: no Chromium found (PATH: chromium, chromium-browser,\n' +
      '* google-chrome; or $CSG_CHROMIUM). `node scripts/setup.mjs --browser` installs it\n' +
      '* on Debian/Ubuntu as root.\n' +
      '********************************************************************************\n',
  );
}
const maybe = chromium ? describe : describe.skip;

interface KernelReport {
  adapter: string;
  features: string[];
  results: { name: string; ok: boolean; ms: number; error?: string }[];
  done: boolean;
  error?: string;
}

/** Labels from Node (Dawn) and from the page may differ only where two classes' logits nearly tie. */
const MAX_DIFFERENT_PIXELS = 0.002;

maybe('in headless Chromium with WebGPU', () => {
  let session: WebSession;
  const pageErrors: string[] = [];
  useGpu();
  beforeAll(async () => {
    session = await startWebSession(chromium!, (line) => pageErrors.push(line));
  }, 120_000);
  afterAll(async () => {
    await session?.close();
  });

  test('kernels against the float64 CPU references, on the browser adapter', async () => {
    const page = await session.open('kernels.html');
    await page.waitForFunction(() => (globalThis as { kernelReport?: KernelReport }).kernelReport?.done, { timeout: 240_000, polling: 250 });
    const report = (await page.evaluate(() => (globalThis as { kernelReport?: KernelReport }).kernelReport)) as KernelReport;
    await page.close();
    process.stderr.write(`[browser] adapter: ${report.adapter}; features: ${report.features.join(', ')}\n`);
    for (const r of report.results) process.stderr.write(`[browser] ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms.toFixed(0)} ms)${r.error ? `: ${r.error}` : ''}\n`);
    expect(report.error).toBeUndefined();
    expect(report.adapter).not.toBe('');
    expect(report.results.length).toBe(8);
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
  }, 300_000);

  test('the page segments the sample photos as Node does, and names the adapter', async () => {
    const file = join(ROOT, 'assets', 'web', 'checkpoint.safetensors');
    const model = loadSegModel(readSafetensors(file), file);
    const nodeLabels = async (photo: string) => {
      const img = readRgb(join(ROOT, 'assets', 'web', photo));
      return (await segmentImage(model, img.data, img.width, img.height)).labels;
    };
    const page = await session.open('index.html');
    const ready = (p: Page) => p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), { timeout: 240_000, polling: 250 });
    const pageLabels = async (p: Page) => {
      await ready(p);
      const error = await p.evaluate(() => (document.getElementById('error')!.hidden ? null : document.getElementById('error')!.textContent));
      expect(error).toBeNull();
      return Uint8Array.from((await p.evaluate(() => Array.from((globalThis as { csgPage?: { last: { labels: Uint8Array } } }).csgPage!.last.labels))) as number[]);
    };
    const compare = (what: string, browser: Uint8Array, node: Uint8Array) => {
      expect(browser.length).toBe(node.length);
      const differ = browser.reduce((n, l, i) => n + (l !== node[i] ? 1 : 0), 0);
      const strokes = node.reduce((n, l) => n + (l ? 1 : 0), 0);
      process.stderr.write(`[browser] ${what}: ${differ} of ${node.length} pixels differ from Node (${strokes} non-background pixels in Node's labels)\n`);
      expect(differ).toBeLessThanOrEqual(MAX_DIFFERENT_PIXELS * node.length);
    };
    // The page opens with the first sample photo (a real test image).
    compare('photos/real-0.png (opened by the page)', await pageLabels(page), await nodeLabels('photos/real-0.png'));
    expect(await page.$eval('#adapter', (e) => e.textContent)).toMatch(/WebGPU adapter: \S/);
    expect(await page.$eval('#timing', (e) => e.textContent)).toMatch(/forward 64×64: [\d.]+ ms/);
    // And a file given through the file input.
    await page.evaluate(() => (document.body.dataset.state = 'loading'));
    const input = (await page.$('#image')) as ElementHandle<HTMLInputElement>;
    await input!.uploadFile(join(ROOT, 'assets', 'web', 'photos', 'synthetic-1.png'));
    compare('photos/synthetic-1.png (file input)', await pageLabels(page), await nodeLabels('photos/synthetic-1.png'));
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 300_000);

  test('bench.html times one case of `npm run bench -- --browser` on the browser adapter', async () => {
    const name = 'conv3x3 256ch 16x16 forward';
    const report = await benchInPage(session, name);
    for (const r of report.results) process.stderr.write(`[browser] bench: ${formatRow(r)}\n`);
    expect(report.error).toBeUndefined();
    expect(report.adapter).not.toBe('');
    expect(report.results.map((r) => r.name)).toEqual([name]);
    const [row] = report.results;
    expect(row!.ms).toBeGreaterThan(0);
    expect(Number.isFinite(row!.ms)).toBe(true);
    // The rate comes from the same case's FLOP count as on Dawn; the page has no CPU clock to report.
    expect(row!.gflops).toBeCloseTo(browserSubset().find((c) => c.name === name)!.flops! / (row!.ms * 1e6), 9);
    expect(row!.cpuMs).toBeUndefined();
    expect((await benchInPage(session, 'no such case')).error).toBe("no browser benchmark is named 'no such case'");
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
