// Max pooling over NCHW planes (PyTorch semantics, no ceil mode; padding acts as -inf).
// The forward saves the arg-max of each window as an index into its input plane; the backward is a
// gather: each input position sums the gradients of the windows whose arg-max it is (no atomics).
// Grid: x = 64-wide pieces of a row, y = row, z = plane, so no invocation divides by a runtime
// value (integer division is scalar, hence slow, on CPU backends); the window geometry is
// specialised per pipeline for the same reason.

override KERNEL: u32;
override STRIDE: u32;
override PADDING: u32;

struct Params {
  h: u32,
  w: u32,
  outH: u32,
  outW: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;

@compute @workgroup_size(64)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ow = wid.x * 64u + lid;
  if (ow >= params.outW) { return; }
  let oh = wid.y;
  let plane = wid.z;
  let h0 = i32(oh * STRIDE) - i32(PADDING);
  let w0 = i32(ow * STRIDE) - i32(PADDING);
  let hStart = u32(max(h0, 0));
  let wStart = u32(max(w0, 0));
  let hEnd = u32(min(h0 + i32(KERNEL), i32(params.h)));
  let wEnd = u32(min(w0 + i32(KERNEL), i32(params.w)));
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
  let o = (plane * params.outH + oh) * params.outW + ow;
  out[o] = best;
  argmax[o] = bestIdx;
}

// Output indices o whose window [o·STRIDE − PADDING, o·STRIDE − PADDING + KERNEL) holds input index i.
fn windowsOf(i: u32, outSize: u32) -> vec2<u32> {
  let shifted = i + PADDING;
  let first = select((shifted + 1u - KERNEL + STRIDE - 1u) / STRIDE, 0u, shifted + 1u < KERNEL);
  let last = min(shifted / STRIDE + 1u, outSize);
  return vec2<u32>(first, last);
}

@compute @workgroup_size(64)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let iw = wid.x * 64u + lid;
  if (iw >= params.w) { return; }
  let ih = wid.y;
  let plane = wid.z;
  let idx = ih * params.w + iw;
  let rows = windowsOf(ih, params.outH);
  let cols = windowsOf(iw, params.outW);
  let base = plane * params.outH * params.outW;
  var acc = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      let o = base + oh * params.outW + ow;
      acc += select(0.0, dy[o], argmax[o] == idx);
    }
  }
  out[plane * params.h * params.w + idx] = acc;
}
