// `npm run bench -- --browser`: each case of the browser subset (subset.ts) timed on Dawn in this process,
// then at once in headless Chromium's WebGPU (bench.html, one tab per case), so that both figures of
// a row see the same load; then the rows side by side with both adapters named.
import { writeFileSync } from 'node:fs';
import { adapterName, gpu } from '../../src/gpu/index.js';
import { findChromium, startWebSession, type WebSession } from '../../kernels-test/browser/chromium.js';
import { runCase, formatRow, type BenchResult } from '../harness.js';
import type { BrowserBenchReport } from './page.js';
import { browserSubset } from './subset.js';

/** Runs bench.html (all of the subset, or the case named `only`) in a new tab and returns its report. */
export async function benchInPage(session: WebSession, only?: string): Promise<BrowserBenchReport> {
  const page = await session.open(`bench.html${only ? `?case=${encodeURIComponent(only)}` : ''}`);
  try {
    await page.waitForFunction(() => (globalThis as { benchReport?: BrowserBenchReport }).benchReport?.done, { timeout: 0, polling: 250 });
    return (await page.evaluate(() => (globalThis as { benchReport?: BrowserBenchReport }).benchReport)) as BrowserBenchReport;
  } finally {
    await page.close();
  }
}

interface Row {
  dawn: BenchResult;
  chromium: BenchResult;
}

const rate = (r: BenchResult) => (r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : '');
const cell = (r: BenchResult) => `${r.ms.toFixed(2).padStart(10)} ms ${rate(r).padStart(15)}`;

function table(rows: Row[], dawnAdapter: string, chromium: { version: string; adapter: string }): string {
  const lines = [
    `Dawn (Node):            ${dawnAdapter}`,
    `${chromium.version} (headless): ${chromium.adapter}`,
    '',
    `${'case'.padEnd(30)} ${'shape (kernel on Dawn | Chromium)'.padEnd(52)} ${'Dawn'.padStart(29)} ${'Chromium'.padStart(29)}  Chromium time ÷ Dawn time`,
  ];
  for (const { dawn, chromium: web } of rows) {
    const shape = dawn.shape === web.shape ? dawn.shape : `${dawn.shape} | ${web.shape.split(' ').at(-1)}`;
    lines.push(`${dawn.name.padEnd(30)} ${shape.padEnd(52)} ${cell(dawn)} ${cell(web)}  ${(web.ms / dawn.ms).toFixed(2).padStart(8)}×`);
  }
  return lines.join('\n');
}

/** The whole `--browser` run; `filter` keeps the cases whose name contains it, `jsonPath` gets both hosts' rows. */
export async function compareWithBrowser(filter: string | undefined, jsonPath: string | undefined): Promise<void> {
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    throw new Error(
      'bench --browser: no Chromium found (PATH: chromium, chromium-browser, google-chrome; or $CSG_CHROMIUM); `node scripts/setup.mjs --browser` installs it on Debian/Ubuntu as root',
    );
  }
  const cases = browserSubset().filter((c) => !filter || c.name.includes(filter));
  if (cases.length === 0) {
    console.log(`no browser benchmark matches --filter ${filter} (${browserSubset().map((c) => c.name).join(', ')})`);
    return;
  }
  const session = await startWebSession(chromiumPath, (line) => console.error(`[chromium] ${line}`));
  try {
    const chromium = { version: (await session.browser.version()).replace(/^(Headless)?Chrome\//, 'Chromium '), adapter: '' };
    const rows: Row[] = [];
    for (const c of cases) {
      const dawn = await runCase(c);
      console.log(`[dawn]     ${formatRow(dawn)}`);
      const report = await benchInPage(session, c.name);
      if (report.error) throw new Error(`bench --browser: '${c.name}' failed in Chromium: ${report.error}`);
      chromium.adapter = report.adapter;
      const web = report.results[0]!;
      console.log(`[chromium] ${formatRow(web)}`);
      rows.push({ dawn, chromium: web });
    }
    const dawnAdapter = adapterName(gpu().adapter);
    console.log(`\n${table(rows, dawnAdapter, chromium)}`);
    if (jsonPath) {
      const json = {
        dawn: { adapter: dawnAdapter, results: rows.map((r) => r.dawn) },
        chromium: { ...chromium, results: rows.map((r) => r.chromium) },
      };
      writeFileSync(jsonPath, JSON.stringify(json, null, 2));
    }
  } finally {
    await session.close();
  }
}
