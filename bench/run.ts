// npm run bench [-- --filter WORD] [--json FILE] [--browser]
// --browser: only the browser subset (bench/browser/subset.ts), each case on Dawn and in headless Chromium;
// its --json FILE holds { dawn: { adapter, results }, chromium: { version, adapter, results } }.
import { writeFileSync } from 'node:fs';
import { initGpu, closeGpu, adapterName } from '../src/gpu/index.js';
import { runCase, formatRow, type BenchCase, type BenchResult } from './harness.js';
import { suites } from './suites/index.js';
import { compareWithBrowser } from './browser/run-in-chromium.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const filter = arg('--filter');
const jsonPath = arg('--json');
const g = await initGpu({ verbose: true });
console.log(`adapter: ${adapterName(g.adapter)}`);
if (process.argv.includes('--browser')) {
  await compareWithBrowser(filter, jsonPath).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exitCode = 1;
  });
} else {
  const cases: BenchCase[] = (await Promise.all(suites.map((s) => s()))).flat().filter((c) => !filter || c.name.includes(filter));
  if (cases.length === 0) console.log(`no benchmark matches --filter ${filter}`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    const r = await runCase(c);
    results.push(r);
    console.log(formatRow(r));
  }
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
}
closeGpu();
