#!/usr/bin/env node
// First-run set-up, run before `npm test`, `npm run train:seg` and `npm run bench`. Idempotent: it
// checks, and installs only what is missing, saying what it does:
//   1. node modules (npm ci from the committed lockfile);
//   2. a WebGPU adapter for Dawn. Without a GPU driver that Dawn accepts, on Debian/Ubuntu as root
//      it installs Mesa's lavapipe (a Vulkan driver on the CPU), version >= 24: on Debian bookworm
//      from bookworm-backports (bookworm's own 22.3 is refused by Dawn). Elsewhere it says what to install.
//   3. with --browser (npm test, test:browser, web): Chromium for the browser tests, found on PATH or
//      at $CSG_CHROMIUM; on Debian/Ubuntu as root `apt-get install chromium`. Elsewhere, or when the
//      install fails, a warning: the browser tests then skip, saying why.
// Uses Node built-ins only: it must run before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const browser = process.argv.includes('--browser');
const say = (msg) => process.stderr.write(`[setup] ${msg}\n`);
const fail = (msg) => {
  say(`ERROR: ${msg}`);
  process.exit(1);
};

function run(cmd, args, what) {
  say(`${what}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) fail(`${what} failed (exit ${r.status}): ${cmd} ${args.join(' ')}`);
}

// 1. Node modules: installed when missing or installed from another lockfile (a hash of the lockfile
//    is kept in node_modules after each install). A symlinked node_modules (a shared checkout) is
//    left alone.
const lockHash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
const modules = join(root, 'node_modules');
const marker = join(modules, '.csg-webgpu-lock-hash');
const linked = existsSync(modules) && lstatSync(modules).isSymbolicLink();
const current = existsSync(join(modules, 'webgpu')) && existsSync(marker) && readFileSync(marker, 'utf8') === lockHash;
if (!linked && !current) {
  run('npm', ['ci', '--no-audit', '--no-fund'], 'installing node modules from package-lock.json');
  writeFileSync(marker, lockHash);
}

// 2. A WebGPU adapter. The probe runs in a child process: a failed Dawn start must not take us down.
const PROBE = `
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const flags = [];
if (process.env.CSG_WEBGPU_BACKEND) flags.push('backend=' + process.env.CSG_WEBGPU_BACKEND);
if (process.env.CSG_WEBGPU_ADAPTER) flags.push('adapter=' + process.env.CSG_WEBGPU_ADAPTER);
const gpu = create(flags);
const a = await gpu.requestAdapter();
if (!a) { console.log(JSON.stringify(null)); process.exit(0); }
const i = a.info;
console.log(JSON.stringify({ vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description }));
process.exit(0);
`;

function probeAdapter() {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    timeout: 60000,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop();
  try {
    return JSON.parse(line ?? 'null');
  } catch {
    return null;
  }
}

function osRelease() {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => {
      const [k, ...v] = l.split('=');
      return [k, v.join('=').replace(/^"|"$/g, '')];
    }));
  } catch {
    return null;
  }
}

function isDebianLike(os) {
  return Boolean(os && /debian|ubuntu/.test(`${os.ID} ${os.ID_LIKE ?? ''}`));
}

function installLavapipe() {
  const os = osRelease();
  const howTo =
    'Install a Vulkan driver Dawn accepts: a GPU vendor driver, or Mesa lavapipe >= 24 ' +
    '(Debian bookworm: `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` after enabling bookworm-backports; ' +
    'Debian trixie / Ubuntu 24.04+: `apt-get install mesa-vulkan-drivers libvulkan1`). ' +
    'macOS and Windows need no install (Metal / D3D12).';
  if (process.platform !== 'linux' || !isDebianLike(os)) fail(`Dawn found no WebGPU adapter. ${howTo}`);
  if (process.getuid?.() !== 0) fail(`Dawn found no WebGPU adapter and this is not root, so nothing was installed. ${howTo}`);
  const args = ['install', '-y', '-q', '--no-install-recommends'];
  if (os.ID === 'debian' && os.VERSION_CODENAME === 'bookworm') {
    const list = '/etc/apt/sources.list.d/bookworm-backports.sources';
    const already = execFileSync('bash', ['-c', 'grep -rhs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ || true'], { encoding: 'utf8' });
    if (!already.trim()) {
      say(`enabling Debian bookworm-backports (Mesa 25 with a lavapipe Dawn accepts) in ${list}`);
      writeFileSync(
        list,
        'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
      );
    }
    args.push('-t', 'bookworm-backports');
  }
  run('apt-get', ['update', '-q'], 'refreshing the package lists');
  run('apt-get', [...args, 'mesa-vulkan-drivers', 'libvulkan1'], 'installing Mesa lavapipe (Vulkan on the CPU) for Dawn');
}

let adapter = probeAdapter();
if (!adapter) {
  say('Dawn found no WebGPU adapter (no Vulkan driver, or Mesa older than 24).');
  installLavapipe();
  adapter = probeAdapter();
  if (!adapter) fail('Dawn still finds no WebGPU adapter after installing lavapipe; run `vulkaninfo --summary` to see what Vulkan reports.');
}
if (!quiet) {
  const name = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(' / ');
  say(`ready: node modules installed; WebGPU adapter: ${name}`);
}

// 3. Chromium for the browser tests (kernels-test/browser.test.ts finds it the same way).
function findChromium() {
  if (process.env.CSG_CHROMIUM) return existsSync(process.env.CSG_CHROMIUM) ? process.env.CSG_CHROMIUM : null;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

if (browser && !findChromium()) {
  const warn = (why) => say(`WARNING: no Chromium, so the browser tests will skip: ${why}. Install Chromium (or Chrome) and put it on PATH, or set CSG_CHROMIUM=/path/to/chrome.`);
  const os = osRelease();
  if (process.platform !== 'linux' || !isDebianLike(os)) warn('installing it is automatic on Debian/Ubuntu only');
  else if (process.getuid?.() !== 0) warn('this is not root, so nothing was installed (as root: apt-get install chromium)');
  else {
    say('installing Chromium for the browser tests: apt-get install chromium');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'inherit', 'inherit'], env });
    const r = spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0 || !findChromium()) warn(`apt-get install chromium failed (exit ${r.status})`);
  }
}
