// Bilinear resize of NCHW tensors to any size (F.interpolate(mode='bilinear'), both align_corners).
// WGSL: shaders/resize.wgsl · reference: kernels-test/ref/resize.ts · test: kernels-test/resize.test.ts
import { gpu } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr } from '../tensor/index.js';

type ResizeParams = {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  scaleH: number;
  scaleW: number;
  alignCorners: number;
};

const bilinearOp = defineOp<{ planes: number; params: ResizeParams }>({
  name: 'interpolateBilinear',
  reads: { inputs: [], out: false },
  forward: ([x], { planes, params }) => {
    const [n, c] = x!.shape as [number, number];
    const out = Tensor.empty([n, c, params.outH, params.outW]);
    gpu().run({ family: 'resize', entry: 'bilinear_forward' }, { x: x!.binding, out: out.binding }, params, [Math.ceil(params.outW / 64), params.outH, planes]);
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { planes, params } }) => {
    const colGrad = Tensor.empty([planes, params.outH, params.inW]);
    const gx = Tensor.empty(x!.shape);
    const columns = Math.ceil(params.inW / 64);
    gpu().run({ family: 'resize', entry: 'bilinear_backward_cols' }, { dy: grad.binding, colGrad: colGrad.binding }, params, [columns, params.outH, planes]);
    gpu().run({ family: 'resize', entry: 'bilinear_backward_rows' }, { colGrad: colGrad.binding, out: gx.binding }, params, [columns, params.inH, planes]);
    colGrad.dispose();
    return [gx];
  },
});

/** PyTorch's source-index scale for one axis when the output size is given. */
function axisScale(inSize: number, outSize: number, alignCorners: boolean): number {
  if (alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return inSize / outSize;
}

// x [N, C, H, W] → [N, C, outH, outW]
/** F.interpolate(x, size=[outH, outW], mode='bilinear', align_corners=alignCorners). */
export function interpolateBilinear(x: Tensor, [outH, outW]: readonly [number, number], alignCorners: boolean): Tensor {
  const where = 'interpolateBilinear';
  assertDtype(x, 'f32', where);
  if (x.rank !== 4) throw new TensorError(`${where}: expected an NCHW input, got ${shapeStr(x.shape)}`);
  const [n, c, inH, inW] = x.shape as [number, number, number, number];
  for (const d of [outH, outW]) {
    if (!Number.isInteger(d) || d < 1) throw new TensorError(`${where}: output size [${outH}, ${outW}] must be positive integers`);
  }
  if (inH < 1 || inW < 1) throw new TensorError(`${where}: empty input ${shapeStr(x.shape)}`);
  const params = {
    inH,
    inW,
    outH,
    outW,
    scaleH: axisScale(inH, outH, alignCorners),
    scaleW: axisScale(inW, outW, alignCorners),
    alignCorners: alignCorners ? 1 : 0,
  };
  return bilinearOp([x], { planes: n * c, params });
}
