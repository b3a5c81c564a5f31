// Index of an invocation over the 2-D grid of workgroups that src/gpu's grid() lays out (flat
// workgroup index wid.y · nwg.x + wid.x), for workgroups of `size` lanes.
fn gridIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * size + lid;
}
