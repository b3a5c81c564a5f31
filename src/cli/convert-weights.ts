// npm run convert:weights -- IN.pth|IN.pth.tar|IN.safetensors OUT.safetensors: the unwrapped state dict
// (a checkpoint's 'state_dict', without DataParallel's 'module.'), names otherwise unchanged, written
// atomically; a file the reader refuses (a pickle calling anything outside the allow-list) writes nothing.
import { resolve } from 'node:path';
import { readWeights, describeWeights, layoutMetadata } from '../io/weights.js';
import { writeSafetensors } from '../io/safetensors-file.js';

function main(): void {
  const args = process.argv.slice(2);
  if (args.length !== 2 || args.some((a) => a.startsWith('-'))) {
    console.log('npm run convert:weights -- IN.pth|IN.pth.tar|IN.safetensors OUT.safetensors');
    process.exit(args.includes('--help') ? 0 : 1);
  }
  const [input, output] = args as [string, string];
  if (resolve(input) === resolve(output)) throw new Error(`the output ${output} is the input`);
  const w = readWeights(input);
  process.stderr.write(`${describeWeights(input, w)}\n`);
  const metadata = { ...w.metadata, format: 'pt', converted_from: input, ...layoutMetadata(w.layout) };
  writeSafetensors(output, w.tensors, metadata);
  console.log(`wrote ${output} (${w.tensors.size} tensors)`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`convert:weights: ${(e as Error).message}\n`);
  process.exit(1);
}
