// GEMM shapes the models use: square 1024³, the implicit-GEMM shape of a 3×3 conv with 256 channels
// on a 64×64 map (M = 4096 pixels, N = 256 outputs, K = 256·9), a linear layer, softmax rows.
import type { Tensor } from '../../src/tensor/index.js';
import { backward, zeroGrad } from '../../src/autograd/index.js';
import { matmul, linear, softmax, logSoftmax, setMatmulVariant, matmulVariant, type MatmulVariant } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';
import { tfjsMatmulPeer, torchPeer } from '../peers.js';
import { gemmCase as plainGemmCase, random } from './gemm-case.js';

function gemmCase(m: number, k: number, n: number, variant: MatmulVariant | null, label: string, withPeers: boolean): BenchCase {
  const c = plainGemmCase(m, k, n, variant, label);
  if (withPeers) c.peer = tfjsMatmulPeer(m, k, n);
  return c;
}

export function matmulCases(): BenchCase[] {
  const auto = matmulVariant();
  const cases: BenchCase[] = [
    gemmCase(1024, 1024, 1024, null, `1024³ ${auto}`, true),
    gemmCase(1024, 1024, 1024, 'register', '1024³', false),
    gemmCase(4096, 2304, 256, null, `conv-shaped ${auto}`, true),
    gemmCase(4096, 2304, 256, 'register', 'conv-shaped', false),
  ];
  const torch = torchPeer('a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)', 'c = a @ b');
  if (torch) cases.push({ ...gemmCase(1024, 1024, 1024, null, `1024³ ${auto} vs torch`, false), peer: torch });

  // A CSG head's nn.Linear(2048, 2048) on the 64 patch vectors of a 1-image stage-4 map: few rows,
  // a [N, K] weight (the automatic choice computes Cᵀ = W·xᵀ on the subgroup kernel).
  let hx: Tensor, hw: Tensor;
  for (const variant of [null, 'register'] as const) {
    cases.push({
      name: `matmul head 64 rows${variant ? ` (${variant})` : ` ${auto}`}`,
      shape: '[64, 2048] · [2048, 2048]ᵀ',
      flops: 2 * 64 * 2048 * 2048,
      setup: () => {
        setMatmulVariant(variant);
        hx = random([64, 2048]);
        hw = random([2048, 2048]);
        return () => matmul(hx, hw, { transB: true }).dispose();
      },
      dispose: () => {
        [hx, hw].forEach((t) => t.dispose());
        setMatmulVariant(null);
      },
    });
  }

  let x: Tensor, w: Tensor, bias: Tensor;
  cases.push({
    name: 'matmul linear (nn.Linear forward, bias)',
    shape: '[512, 2048] → 1000',
    flops: 2 * 512 * 2048 * 1000,
    setup: () => {
      x = random([512, 2048]);
      w = random([1000, 2048]);
      bias = random([1000]);
      return () => linear(x, w, bias).dispose();
    },
    dispose: () => [x, w, bias].forEach((t) => t.dispose()),
  });
  let logits: Tensor;
  const [rows, cols] = [4096, 1000];
  cases.push({
    name: 'softmax rows',
    shape: `[${rows}, ${cols}] axis -1`,
    bytes: 8 * rows * cols,
    setup: () => {
      logits = random([rows, cols]);
      return () => softmax(logits).dispose();
    },
    dispose: () => logits.dispose(),
  });
  // Segmentation logits: log-softmax over the 19 classes of NCHW, forward and backward.
  let seg: Tensor;
  const segShape = [2, 19, 128, 128];
  const segSize = segShape.reduce((p, d) => p * d, 1);
  cases.push({
    name: 'softmax logSoftmax classes fwd+bwd',
    shape: `[${segShape.join(', ')}] axis 1`,
    bytes: 4 * segSize * (2 + 3),
    setup: () => {
      seg = random(segShape);
      seg.requiresGrad = true;
      return () => {
        const y = logSoftmax(seg, 1);
        backward(y, y);
        y.dispose();
        zeroGrad([seg]);
      };
    },
    dispose: () => seg.dispose(),
  });
  return cases;
}
