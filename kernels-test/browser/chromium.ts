// Headless Chromium with WebGPU for the browser tests and `npm run bench -- --browser`: the binary
// from $CSG_CHROMIUM or PATH (scripts/setup.mjs --browser installs Debian's `chromium`), driven by
// puppeteer-core, on a fresh profile, serving the web build from 127.0.0.1 (WebGPU needs a secure
// context, which localhost is).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { buildWeb, serveStatic } from '../../src/cli/web-build.js';

export function findChromium(): string | null {
  const explicit = process.env.CSG_CHROMIUM;
  if (explicit) return existsSync(explicit) ? explicit : null;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not on PATH
    }
  }
  return null;
}

export interface WebSession {
  browser: Browser;
  url: string;
  /** A new tab with the page's console errors forwarded to `log`. */
  open(path: string): Promise<Page>;
  close(): Promise<void>;
}

/** Builds the page into a temporary folder, serves it and starts headless Chromium with WebGPU. */
export async function startWebSession(executablePath: string, log: (line: string) => void = () => {}): Promise<WebSession> {
  const out = mkdtempSync(join(tmpdir(), 'csg-web-'));
  const profile = mkdtempSync(join(tmpdir(), 'csg-chromium-'));
  await buildWeb(out);
  const server = await serveStatic(out);
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    protocolTimeout: 600_000,
    args: [
      '--enable-unsafe-webgpu',
      // Running as root needs --no-sandbox; the rest keep a test run off the network and quiet.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    url: server.url,
    async open(path) {
      const page = await browser.newPage();
      page.on('pageerror', (e) => log(`[page error] ${(e as Error).message}`));
      page.on('console', (m) => m.type() === 'error' && log(`[page console] ${m.text()}`));
      await page.goto(server.url + path);
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
      rmSync(out, { recursive: true, force: true });
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
