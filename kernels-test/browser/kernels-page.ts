// Kernel tests that run inside the browser (kernels.html, bundled by src/cli/web-build.ts): the same
// ops as kernels-test/*.test.ts on the page's WebGPU adapter, against the same float64 CPU
// references (kernels-test/ref/), with the tolerances of the Node tests. Shapes are tiny: the
// headless adapter is SwiftShader on the CPU. Results land on window.kernelReport for
// browser.test.ts and in the page's <pre>.
import { initGpu, adapterName } from '../../src/gpu/index.js';
import { Tensor, scopeAsync } from '../../src/tensor/index.js';
import { backward } from '../../src/autograd/index.js';
import { add, mul, relu, sumAll, matmul, conv2d, softmax, batchNorm2d, infoNce } from '../../src/ops/index.js';
import { randn, expectClose, type NCHW } from '../helpers.js';
import { broadcastRef } from '../ref/elementwise.js';
import { matmulRef } from '../ref/matmul.js';
import { refConvForward, refConvBackward, type RefConv } from '../ref/conv2d.js';
import { softmaxRef, softmaxGradRef } from '../ref/softmax.js';
import { batchNormRef, batchNormBackwardRef, l2NormalizeRef } from '../ref/norm.js';
import { infoNceRef } from '../ref/nce.js';

interface Result {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Forward of `op` and the gradients of Σ out·g to each input. */
async function forwardBackward(inputs: { data: ArrayLike<number>; shape: number[] }[], op: (...t: Tensor[]) => Tensor, g: ArrayLike<number>) {
  return scopeAsync(async () => {
    const ts = inputs.map((i) => {
      const t = Tensor.from(i.data, i.shape);
      t.requiresGrad = true;
      return t;
    });
    const out = op(...ts);
    const y = await out.read();
    backward(sumAll(mul(out, Tensor.from(g, out.shape))));
    return { y, grads: await Promise.all(ts.map((t) => t.grad!.read())) };
  });
}

const convCase = (name: string, x: RefConv['x'], w: RefConv['w'], pad: number, dil: number, stride = 1) => ({
  name,
  async run() {
    const r: RefConv = { x, w, stride: [stride, stride], padding: [pad, pad], dilation: [dil, dil] };
    const xd = randn(size(x), 1);
    const wd = randn(size(w), 2, 0.3);
    const yShape = [x[0], w[0], Math.floor((x[2] + 2 * pad - dil * (w[2] - 1) - 1) / stride) + 1, Math.floor((x[3] + 2 * pad - dil * (w[3] - 1) - 1) / stride) + 1];
    const dy = randn(size(yShape), 3);
    const { y, grads } = await forwardBackward(
      [
        { data: xd, shape: [...x] },
        { data: wd, shape: [...w] },
      ],
      (xt, wt) => conv2d(xt!, wt!, null, { padding: pad, dilation: dil, stride }),
      dy,
    );
    const tol = { atol: 2e-4, rtol: 1e-3 };
    expectClose(y, refConvForward(r, xd, wd, null), tol, 'forward');
    const ref = refConvBackward(r, xd, wd, dy);
    expectClose(grads[0]!, ref.dx, tol, 'input gradient');
    expectClose(grads[1]!, ref.dw, tol, 'weight gradient');
  },
});

const cases: { name: string; run: () => Promise<void> }[] = [
  {
    name: 'elementwise: broadcast add, mul, relu forward and backward',
    async run() {
      const [sa, sb] = [[2, 3, 4], [3, 1]];
      const a = randn(size(sa), 1);
      const b = randn(size(sb), 2);
      const g = randn(24, 3);
      const { y, grads } = await forwardBackward(
        [
          { data: a, shape: sa },
          { data: b, shape: sb },
        ],
        (x, z) => relu(add(mul(x!, z!), x!)),
        g,
      );
      const ref = broadcastRef(a, sa, b, sb, (x, z) => Math.max(0, x * z + x));
      expectClose(y, ref.data, {}, 'forward');
      const da = broadcastRef(a, sa, b, sb, (x, z) => (x * z + x > 0 ? z + 1 : 0)).data.map((v, i) => v * g[i]!);
      expectClose(grads[0]!, da, {}, 'gradient of a');
    },
  },
  {
    name: 'matmul [5,7]·[9,7]ᵀ forward and both gradients',
    async run() {
      const a = randn(35, 1);
      const b = randn(63, 2);
      const g = randn(45, 3);
      const { y, grads } = await forwardBackward(
        [
          { data: a, shape: [5, 7] },
          { data: b, shape: [9, 7] },
        ],
        (x, z) => matmul(x!, z!, { transB: true }),
        g,
      );
      const tol = { atol: 1e-4, rtol: 1e-4 };
      expectClose(y, matmulRef(a, [5, 7], b, [9, 7], false, true), tol, 'forward');
      expectClose(grads[0]!, matmulRef(g, [5, 9], b, [9, 7]), tol, 'dA = G·B');
      expectClose(grads[1]!, matmulRef(g, [5, 9], a, [5, 7], true, false), tol, 'dB = Gᵀ·A');
    },
  },
  convCase('conv2d 3×3 p1, forward, input and weight gradients', [2, 5, 7, 6], [6, 5, 3, 3], 1, 1),
  convCase('conv2d 3×3 dilation 2 p2, forward, input and weight gradients', [1, 4, 8, 7], [5, 4, 3, 3], 2, 2),
  convCase('conv2d 3×3 stride 2 p1, forward, input and weight gradients', [1, 3, 9, 9], [4, 3, 3, 3], 1, 1, 2),
  {
    name: 'softmax over axis 1 of [2,5,3], forward and backward',
    async run() {
      const shape = [2, 5, 3];
      const x = randn(30, 1, 3).map((v, i) => v + (i % 3) * 40);
      const g = randn(30, 2);
      const { y, grads } = await forwardBackward([{ data: x, shape }], (t) => softmax(t!, 1), g);
      expectClose(y, softmaxRef(x, shape, 1, false), { atol: 1e-5, rtol: 1e-5 }, 'forward');
      expectClose(grads[0]!, softmaxGradRef(x, g, shape, 1, false), { atol: 1e-5, rtol: 1e-4 }, 'backward');
    },
  },
  {
    name: 'BatchNorm2d training [3,4,5,5]: output, running statistics, gradients',
    async run() {
      const shape: NCHW = [3, 4, 5, 5];
      const x = randn(size(shape), 1, 2).map((v) => v + 1);
      const w = randn(4, 2);
      const b = randn(4, 3);
      const g = randn(size(shape), 4);
      const ref = batchNormRef(x, shape, w, b, [0, 0, 0, 0], [1, 1, 1, 1], true);
      const refGrad = batchNormBackwardRef(x, shape, g, w, ref.mean, ref.invstd, true);
      const got = await scopeAsync(async () => {
        const [tx, tw, tb] = [Tensor.from(x, [...shape]), Tensor.from(w, [4]), Tensor.from(b, [4])];
        for (const t of [tx, tw, tb]) t.requiresGrad = true;
        const [rm, rv] = [Tensor.from([0, 0, 0, 0], [4]), Tensor.from([1, 1, 1, 1], [4])];
        const out = batchNorm2d(tx, tw, tb, rm, rv, { training: true });
        const y = await out.read();
        backward(sumAll(mul(out, Tensor.from(g, [...shape]))));
        return { y, rm: await rm.read(), rv: await rv.read(), dx: await tx.grad!.read(), dw: await tw.grad!.read(), db: await tb.grad!.read() };
      });
      const tol = { atol: 1e-4, rtol: 1e-4 };
      expectClose(got.y, ref.out, tol, 'output');
      expectClose(got.rm, ref.runningMean, tol, 'running mean');
      expectClose(got.rv, ref.runningVar, tol, 'running variance');
      expectClose(got.dx, refGrad.dx, tol, 'input gradient');
      expectClose(got.dw, refGrad.dWeight, tol, 'weight gradient');
      expectClose(got.db, refGrad.dBias, tol, 'bias gradient');
    },
  },
  {
    name: 'InfoNCE N 6, D 8, K 40: loss and the gradient to q',
    async run() {
      const [n, d, k] = [6, 8, 40];
      const q = l2NormalizeRef(randn(n * d, 1), n, d);
      const kp = l2NormalizeRef(randn(n * d, 2), n, d);
      // Unit columns: normalise the transpose's rows.
      const cols = l2NormalizeRef(randn(k * d, 3), k, d);
      const queue = Float64Array.from({ length: d * k }, (_, i) => cols[(i % k) * d + Math.floor(i / k)]!);
      const ref = infoNceRef(q, kp, queue, n, d, k, 0.07);
      const got = await scopeAsync(async () => {
        const qt = Tensor.from(q, [n, d]);
        qt.requiresGrad = true;
        const loss = infoNce(qt, Tensor.from(kp, [n, d]), Tensor.from(queue, [d, k]), 0.07);
        const value = await loss.item();
        backward(loss);
        return { value, dq: await qt.grad!.read() };
      });
      expectClose([got.value], [ref.loss], { atol: 1e-5, rtol: 1e-5 }, 'loss');
      expectClose(got.dq, ref.dq, { atol: 2e-5, rtol: 1e-3 }, 'dq');
    },
  },
];

async function main(): Promise<void> {
  const log = document.getElementById('log')!;
  const report: { adapter: string; features: string[]; results: Result[]; done: boolean; error?: string } = { adapter: '', features: [], results: [], done: false };
  (globalThis as { kernelReport?: typeof report }).kernelReport = report;
  try {
    const gpu = await initGpu({ verbose: false });
    report.adapter = adapterName(gpu.adapter);
    report.features = gpu.adapter.features;
    log.textContent = `adapter: ${report.adapter}\n`;
    for (const c of cases) {
      const t0 = performance.now();
      try {
        await c.run();
        report.results.push({ name: c.name, ok: true, ms: performance.now() - t0 });
      } catch (e) {
        report.results.push({ name: c.name, ok: false, ms: performance.now() - t0, error: (e as Error).message });
      }
      const r = report.results[report.results.length - 1]!;
      log.textContent += `${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms.toFixed(0)} ms)${r.error ? `: ${r.error}` : ''}\n`;
    }
  } catch (e) {
    report.error = (e as Error).message;
    log.textContent += `error: ${report.error}\n`;
  }
  report.done = true;
}

void main();
