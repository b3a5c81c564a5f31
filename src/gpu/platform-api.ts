// What the engine needs from its host (see platform.ts), in a module of its own so that the hosts
// (platform-node.ts, platform-browser.ts) and platform.ts, which picks one, import no cycle.
export interface Platform {
  readonly name: 'node' | 'browser';
  /** The WebGPU entry point; `flags` (backend=…, adapter=…) choose Dawn's adapter in Node. */
  gpu(flags: string[]): GPU;
  /** Drops the entry point so the process can exit (Node keeps Dawn's instance alive until then). */
  release(): void;
  /** What to do when no adapter is found, in this host's terms. */
  readonly noAdapterHelp: string;
  /** The text of a file under shaders/ ('conv2d.wgsl', 'include/grid-index.wgsl'), or null when missing. */
  shaderSource(path: string): string | null;
  /** The autotune choices saved for an adapter, or null. */
  loadTuning(adapterId: string): Record<string, string> | null;
  saveTuning(adapterId: string, choices: Record<string, string>): void;
  /** A setting such as CSG_CONV_VARIANT (process.env in Node; none in a browser). */
  env(name: string): string | undefined;
  /** A line for the person watching (stderr in Node, the console in a browser). */
  log(line: string): void;
  /** Called once the adapter is open (Node throttles Dawn's polling on a CPU adapter). */
  adapterOpened(isFallback: boolean): void;
}
