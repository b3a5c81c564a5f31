// Driver probes for `npm run bench` (bench/suites/probe.ts), not engine kernels: how fast this adapter
// feeds its lanes from a storage buffer against how fast it multiplies in registers. On lavapipe a
// storage load whose offset differs between lanes is a loop over the SIMD lanes (Mesa's llvmpipe:
// one bounds-checked scalar load per lane and component), so a kernel stays bound by its loads unless
// it does many FMAs per float it loads; the conv kernels' register tiles are sized by this ratio.
// Each lane walks a 256 KiB window (cached) from its own offset, 8 loads per loop trip (a value written
// in a loop costs a blend per write on lavapipe), so mostly the load path is measured. iters: a multiple of 8.

struct Params {
  iters: u32,
  mask: u32,  // window length in f32 words − 1 (a power of two, ≥ 4)
  scale: f32, // fma: the multiplier (read at run time, so the compiler cannot fold the chain)
  shift: f32, // fma: the addend
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> uniform4: array<vec4<f32>, 4096>; // the first 64 KiB of the window

const STEP: u32 = 4096u; // words between one iteration's loads and the next

// out[lane] = Σ over iterations of (src[j], src[j+1], src[j+2], src[j+3]), j = (4·lane + i·STEP) & mask:
// four scalar loads per iteration.
@compute @workgroup_size(64)
fn load_f32(@builtin(global_invocation_id) id: vec3<u32>) {
  var acc = vec4<f32>();
  var at = id.x * 4u;
  for (var i = 0u; i < params.iters; i += 8u) {
    var trip = vec4<f32>();
    for (var r = 0u; r < 8u; r++) {
      let j = (at + r * STEP) & params.mask;
      trip += vec4<f32>(src[j], src[j + 1u], src[j + 2u], src[j + 3u]);
    }
    acc += trip;
    at += 8u * STEP;
  }
  out[id.x] = acc;
}

// The same sums read as one vec4 load per iteration, from {{VEC4}}: `src4` (storage) or `uniform4` (a
// uniform binding, whose 64 KiB limit makes the window its first 16384 words, mask 16383).
@compute @workgroup_size(64)
fn load_vec4(@builtin(global_invocation_id) id: vec3<u32>) {
  var acc = vec4<f32>();
  var at = id.x * 4u;
  for (var i = 0u; i < params.iters; i += 8u) {
    var trip = vec4<f32>();
    for (var r = 0u; r < 8u; r++) { trip += {{VEC4}}[((at + r * STEP) & params.mask) / 4u]; }
    acc += trip;
    at += 8u * STEP;
  }
  out[id.x] = acc;
}

// Four independent vec4 chains a ← a·scale + shift (16 FMAs per iteration; iters a multiple of 8),
// started at lane/(lane+1), summed into out[lane]: no memory traffic inside the loop.
@compute @workgroup_size(64)
fn fma_chains(@builtin(global_invocation_id) id: vec3<u32>) {
  let start = f32(id.x) / f32(id.x + 1u);
  var a0 = vec4<f32>(start);
  var a1 = vec4<f32>(start + 1.0);
  var a2 = vec4<f32>(start + 2.0);
  var a3 = vec4<f32>(start + 3.0);
  let m = vec4<f32>(params.scale);
  let c = vec4<f32>(params.shift);
  // 8 rounds per trip (128 FMAs), so the loop's own per-trip cost stays small beside them.
  for (var i = 0u; i < params.iters; i += 8u) {
    for (var r = 0u; r < 8u; r++) {
      a0 = fma(a0, m, c);
      a1 = fma(a1, m, c);
      a2 = fma(a2, m, c);
      a3 = fma(a3, m, c);
    }
  }
  out[id.x] = a0 + a1 + a2 + a3;
}
