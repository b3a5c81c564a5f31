// The web build's plugin (src/cli/web-build.ts) makes this module from shaders/: path → WGSL text.
declare module 'virtual:shaders' {
  const shaders: Record<string, string>;
  export default shaders;
}
