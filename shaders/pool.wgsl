// Max pooling over NCHW planes (PyTorch semantics, no ceil mode; padding acts as -inf).
// The forward saves the arg-max of each window as an index into its input plane; the backward is a
// gather: each input position sums the gradients of the windows whose arg-max it is (no atomics).

struct Params {
  planes: u32,
  h: u32,
  w: u32,
  outH: u32,
  outW: u32,
  kernel: u32,
  stride: u32,
  padding: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;

fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  let outPlane = params.outH * params.outW;
  if (i >= params.planes * outPlane) { return; }
  let plane = i / outPlane;
  let oh = (i % outPlane) / params.outW;
  let ow = i % params.outW;
  let h0 = i32(oh * params.stride) - i32(params.padding);
  let w0 = i32(ow * params.stride) - i32(params.padding);
  let hStart = u32(max(h0, 0));
  let wStart = u32(max(w0, 0));
  let hEnd = u32(min(h0 + i32(params.kernel), i32(params.h)));
  let wEnd = u32(min(w0 + i32(params.kernel), i32(params.w)));
  let base = plane * params.h * params.w;
  // Start from the first in-range element: the same winner as starting from -inf.
  var bestIdx = hStart * params.w + wStart;
  var best = x[base + bestIdx];
  for (var ih = hStart; ih < hEnd; ih++) {
    for (var iw = wStart; iw < wEnd; iw++) {
      let idx = ih * params.w + iw;
      let v = x[base + idx];
      // First maximum in scan order wins; NaN propagates, as in PyTorch.
      if (v > best || v != v) {
        best = v;
        bestIdx = idx;
      }
    }
  }
  out[i] = best;
  argmax[i] = bestIdx;
}

// Output indices o whose window [o·stride − padding, o·stride − padding + kernel) holds input index i.
fn windowsOf(i: u32, outSize: u32) -> vec2<u32> {
  let shifted = i + params.padding;
  let first = select((shifted + 1u - params.kernel + params.stride - 1u) / params.stride, 0u, shifted + 1u < params.kernel);
  let last = min(shifted / params.stride + 1u, outSize);
  return vec2<u32>(first, last);
}

@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  let inPlane = params.h * params.w;
  if (i >= params.planes * inPlane) { return; }
  let plane = i / inPlane;
  let idx = i % inPlane;
  let rows = windowsOf(idx / params.w, params.outH);
  let cols = windowsOf(idx % params.w, params.outW);
  let base = plane * params.outH * params.outW;
  var acc = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      let o = base + oh * params.outW + ow;
      acc += select(0.0, dy[o], argmax[o] == idx);
    }
  }
  out[i] = acc;
}
