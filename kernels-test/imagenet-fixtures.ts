// Shared by the tests that need the ImageNet ResNet-50 and real photos: the converted weights (fetched
// and converted on first use, or undefined with a message when neither cached nor reachable) and the
// committed 224×224 photos (kernels-test/fixtures/photos, see fixtures/README.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { ensureImagenetWeights, WeightsUnavailableError } from '../src/io/imagenet-weights.js';

export const PHOTOS = join(import.meta.dirname, 'fixtures', 'photos');

/** Labels by ImageNet class index. */
export const IMAGENET_LABELS: string[] = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'assets', 'imagenet-labels.json'), 'utf8'));

/** The photos and the ImageNet classes a correct ResNet-50 puts first. */
export const LABELLED_PHOTOS = [
  { file: 'chelsea_224.png', classes: [281, 282, 283, 284, 285], what: 'a domestic cat' },
  { file: 'coffee_224.png', classes: [967], what: 'espresso' },
] as const;

export function loadPhoto(file: string): { rgba: Uint8Array; height: number; width: number } {
  const png = PNG.sync.read(readFileSync(join(PHOTOS, file)));
  return { rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), height: png.height, width: png.width };
}

/** The converted weights' path, or undefined (with the reason on stderr) so a test file can skip. */
export async function imagenetWeightsOrSkip(): Promise<string | undefined> {
  try {
    return await ensureImagenetWeights();
  } catch (e) {
    if (!(e instanceof WeightsUnavailableError)) throw e;
    process.stderr.write(`SKIPPED (ImageNet weights unavailable): ${e.message}\n`);
    return undefined;
  }
}
