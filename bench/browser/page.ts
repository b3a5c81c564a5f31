// bench.html (bundled by src/cli/web-build.ts): the browser subset (subset.ts) timed by the same harness as
// `npm run bench`, on the page's WebGPU adapter. `?case=NAME` runs that one case. Results land on
// window.benchReport for the Node side (run-in-chromium.ts) and in the page's <pre>.
import { initGpu, adapterName } from '../../src/gpu/index.js';
import { runCase, formatRow, type BenchResult } from '../harness.js';
import { browserSubset } from './subset.js';

export interface BrowserBenchReport {
  adapter: string;
  results: BenchResult[];
  done: boolean;
  error?: string;
}

async function main(): Promise<void> {
  const log = document.getElementById('log')!;
  const report: BrowserBenchReport = { adapter: '', results: [], done: false };
  (globalThis as { benchReport?: BrowserBenchReport }).benchReport = report;
  try {
    const only = new URLSearchParams(location.search).get('case');
    const cases = browserSubset().filter((c) => only === null || c.name === only);
    if (cases.length === 0) throw new Error(`no browser benchmark is named '${only}'`);
    const gpu = await initGpu({ verbose: false });
    report.adapter = adapterName(gpu.adapter);
    log.textContent = `adapter: ${report.adapter}\n`;
    for (const c of cases) {
      const r = await runCase(c);
      report.results.push(r);
      log.textContent += `${formatRow(r)}\n`;
    }
  } catch (e) {
    report.error = (e as Error).message;
    log.textContent += `error: ${report.error}\n`;
  }
  report.done = true;
}

void main();
