// npm run bench [-- --filter WORD] [--json FILE]
import { writeFileSync } from 'node:fs';
import { initGpu, closeGpu } from '../src/gpu/index.js';
import { runCase, formatRow, type BenchCase, type BenchResult } from './harness.js';
import { suites } from './suites/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const filter = arg('--filter');
const jsonPath = arg('--json');
const g = await initGpu({ verbose: true });
const a = g.adapter;
console.log(`adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')}`);
const cases: BenchCase[] = (await Promise.all(suites.map((s) => s()))).flat().filter((c) => !filter || c.name.includes(filter));
if (cases.length === 0) console.log(`no benchmark matches --filter ${filter}`);
const results: BenchResult[] = [];
for (const c of cases) {
  const r = await runCase(c);
  results.push(r);
  console.log(formatRow(r));
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
closeGpu();
