// Kernel choice by measurement: what is fast on lavapipe (register tiles, no shared memory) is slow
// on a real GPU and the other way round. An op names its variants per (op, shape key); the first
// call uses a default and queues the key, tunePending() times every variant once and remembers the
// winner per adapter, in memory and in the platform's store (Node: .cache/autotune/<adapter-id>.json,
// env CSG_AUTOTUNE_DIR moves it; a browser: localStorage). Env CSG_<OP>_VARIANT=name
// forces a variant (e.g. CSG_CONV_VARIANT=tiled).
import { gpu, type AdapterDescription } from './device.js';
import { GpuError } from './errors.js';
import { platform } from './platform.js';

/** One prepared run of a variant: `run` records its dispatches, `dispose` frees what it allocated. */
export interface Trial {
  run(): void;
  dispose(): void;
}

export interface VariantChoice {
  op: string;
  key: string;
  /** Variants this device can run, best guess first (used until tuned). */
  variants: readonly string[];
  /** Prepares a timing run of one variant on inputs of this key's shape. */
  trial(variant: string): Trial;
}

let choices: Map<string, string> | null = null;
let choicesAdapter = '';
const pending = new Map<string, VariantChoice>();

export function adapterId(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture, a.device, a.description, a.backend].filter(Boolean).join('-');
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'unknown';
}

function loadedChoices(): Map<string, string> {
  const id = adapterId(gpu().adapter);
  if (choices && choicesAdapter === id) return choices;
  choicesAdapter = id;
  choices = new Map(Object.entries(platform.loadTuning(id) ?? {}));
  return choices;
}

function saveChoices(): void {
  const id = adapterId(gpu().adapter);
  // Another process on this adapter may have stored choices since ours were loaded: keep them.
  choices = new Map([...Object.entries(platform.loadTuning(id) ?? {}), ...loadedChoices()]);
  platform.saveTuning(id, Object.fromEntries([...choices].sort()));
}

/** The variant forced by env CSG_<OP>_VARIANT, if any (an unknown name is an error). */
export function forcedVariant(op: string, variants: readonly string[]): string | null {
  const env = `CSG_${op.toUpperCase()}_VARIANT`;
  const forced = platform.env(env);
  if (!forced) return null;
  if (!variants.includes(forced)) throw new GpuError(`${env}=${forced}: this device offers ${variants.join(', ')}`);
  return forced;
}

/** The variant to run now: forced, tuned, or (queued for tuning) the first one. Synchronous. */
export function chooseVariant(choice: VariantChoice): string {
  const forced = forcedVariant(choice.op, choice.variants);
  if (forced) return forced;
  if (choice.variants.length === 1) return choice.variants[0]!;
  // The candidates are part of the id: a choice made before a variant existed is made again.
  const id = `${choice.op} ${choice.key} among ${choice.variants.join(',')}`;
  const tuned = loadedChoices().get(id);
  if (tuned && choice.variants.includes(tuned)) return tuned;
  if (!pending.has(id)) pending.set(id, choice);
  return choice.variants[0]!;
}

/** Wall time of one run of a trial, its work waited for. */
async function timeRun(trial: Trial): Promise<number> {
  const t0 = performance.now();
  trial.run();
  await gpu().encoder.sync();
  return performance.now() - t0;
}

/** Times every variant of every key queued by chooseVariant() and records the fastest. */
export async function tunePending(repeats = 5): Promise<Map<string, { variant: string; ms: Record<string, number> }>> {
  const report = new Map<string, { variant: string; ms: Record<string, number> }>();
  if (pending.size === 0) return report;
  await gpu().encoder.sync(); // earlier work must not count against the first variant
  for (const [id, choice] of [...pending]) {
    pending.delete(id);
    const ms: Record<string, number> = {};
    const runnable = new Map<string, Trial>();
    try {
      for (const variant of choice.variants) {
        const trial = choice.trial(variant);
        ms[variant] = Infinity;
        try {
          await timeRun(trial); // compiles the pipelines
          runnable.set(variant, trial);
        } catch (e) {
          // A variant this device cannot compile or run is never chosen.
          trial.dispose();
          if (!(e instanceof GpuError)) throw e;
        }
      }
      // Rounds alternate the variants, so that a burst of load from elsewhere (a shared machine)
      // does not land on one variant's timings only; each is judged by its median, as runs are (the
      // best single run favoured a kernel whose typical run was slower).
      const times = new Map<string, number[]>([...runnable.keys()].map((v) => [v, []]));
      for (let i = 0; i < repeats; i++) {
        for (const [variant, trial] of runnable) times.get(variant)!.push(await timeRun(trial));
      }
      times.forEach((t, variant) => (ms[variant] = t.sort((a, b) => a - b)[t.length >> 1]!));
    } finally {
      runnable.forEach((trial) => trial.dispose());
    }
    const variant = Object.entries(ms).sort((a, b) => a[1] - b[1])[0]![0];
    loadedChoices().set(id, variant);
    report.set(id, { variant, ms });
  }
  saveChoices();
  return report;
}

/** Keys waiting for tunePending() (for tests and logs). */
export function pendingTuning(): string[] {
  return [...pending.keys()];
}
