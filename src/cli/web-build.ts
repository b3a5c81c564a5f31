// The web page's bundle (esbuild): src/web/page.ts, the browser kernel tests and the browser bench
// (bench.html, `npm run bench -- --browser`), with the platform seam switched to the browser
// (src/gpu/platform-node.ts → platform-browser.ts), shaders/ bundled as text, and any `node:` import
// refused with the importer named. Static files (src/web/*.html, the sample checkpoint and photos of
// assets/web) are copied beside the scripts; serveStatic serves them.
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_OUT = join(ROOT, '.cache', 'web');

/** Every shaders/ file as path → text ('include/grid-index.wgsl' → …). */
function shaderTexts(dir = join(ROOT, 'shaders'), base = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = base + entry.name;
    if (entry.isDirectory()) Object.assign(out, shaderTexts(join(dir, entry.name), `${path}/`));
    else if (entry.name.endsWith('.wgsl')) out[path] = readFileSync(join(dir, entry.name), 'utf8');
  }
  return out;
}

const browserPlatform: esbuild.Plugin = {
  name: 'csg-browser-platform',
  setup(build) {
    build.onResolve({ filter: /^virtual:shaders$/ }, () => ({ path: 'shaders', namespace: 'csg-shaders' }));
    build.onLoad({ filter: /.*/, namespace: 'csg-shaders' }, () => ({
      contents: `export default ${JSON.stringify(shaderTexts())};`,
      loader: 'js',
      watchDirs: [join(ROOT, 'shaders'), join(ROOT, 'shaders', 'include')],
    }));
    build.onResolve({ filter: /\/platform-node\.js$/ }, (args) => ({ path: join(args.resolveDir, 'platform-browser.ts') }));
    build.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${relative(ROOT, args.importer)} imports ${args.path}: the browser bundle takes no node: module (route it through src/gpu/platform.ts)` }],
    }));
  },
};

export const WEB_ENTRIES = {
  page: join(ROOT, 'src', 'web', 'page.ts'),
  kernels: join(ROOT, 'kernels-test', 'browser', 'kernels-page.ts'),
  bench: join(ROOT, 'bench', 'browser', 'page.ts'),
};

/** Builds the page into `outDir`; the metafile lists every module bundled (the seam test reads it). */
export async function buildWeb(outDir = WEB_OUT): Promise<esbuild.Metafile> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: WEB_ENTRIES,
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome113',
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
    plugins: [browserPlatform],
  });
  for (const f of readdirSync(join(ROOT, 'src', 'web')).filter((n) => n.endsWith('.html') || n.endsWith('.css'))) {
    cpSync(join(ROOT, 'src', 'web', f), join(outDir, f));
  }
  cpSync(join(ROOT, 'assets', 'web'), join(outDir, 'sample'), { recursive: true });
  return result.metafile;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css',
  '.png': 'image/png',
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/** Serves `dir` on 127.0.0.1 (port 0: any free one); paths outside it are refused. */
export function serveStatic(dir: string, port = 0): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith(sep) ? join(path, 'index.html') : path;
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${req.url}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${bound}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
