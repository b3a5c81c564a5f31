// Screenshot of the web page in headless Chromium: the sample checkpoint on a sample photo, then N
// training steps in the page (the loss curve).  npx tsx scripts/web-screenshot.ts [out.png] [steps] [photo index]
import { findChromium, startWebSession } from '../kernels-test/browser/chromium.js';

const out = process.argv[2] ?? 'docs/web-page.png';
const steps = Number(process.argv[3] ?? 10);
const photo = Number(process.argv[4] ?? 0);
const chromium = findChromium();
if (!chromium) throw new Error('no Chromium found (node scripts/setup.mjs --browser installs it; or set CSG_CHROMIUM)');
const session = await startWebSession(chromium, (line) => console.error(line));
try {
  const page = await session.open('index.html');
  await page.setViewport({ width: 960, height: 900 });
  const settled = () => page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), { timeout: 600_000, polling: 500 });
  await settled();
  const samples = await page.$$('#samples button');
  if (photo > 0) {
    await page.evaluate(() => (document.body.dataset.state = 'loading'));
    await samples[photo]!.click();
    await settled();
  }
  if (steps > 0) {
    await page.$eval('#steps', (e, n) => ((e as HTMLInputElement).value = String(n)), steps);
    await page.evaluate(() => (document.body.dataset.state = 'loading'));
    await page.click('#train');
    await settled();
  }
  const error = await page.$eval('#error', (e) => ((e as HTMLElement).hidden ? null : e.textContent));
  if (error) throw new Error(`the page reports: ${error}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}: ${await page.$eval('#timing', (e) => e.textContent)} | ${await page.$eval('#train-status', (e) => e.textContent)}`);
} finally {
  await session.close();
}
