// What the commands share around src/train's core: the progress bar, Ctrl-C (finish the step, save a
// checkpoint, exit 130; a second Ctrl-C quits at once) and the one-line error and exit status of a
// failed command.
import cliProgress from 'cli-progress';
import type { TrainHooks, TrainOutcome } from '../train/core.js';
import { OptionError } from './options.js';

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

/**
 * Hooks for a training run watched from a terminal: a progress bar (when stderr is a terminal or
 * CSG_PROGRESS=1; else a line per logged step) and Ctrl-C as `shouldStop`. `release()` removes the
 * signal handler.
 */
function terminalHooks(): TrainHooks & { release(): void } {
  const write = (s: string) => process.stderr.write(`${s}\n`);
  const bar =
    process.stderr.isTTY || process.env.CSG_PROGRESS === '1'
      ? new cliProgress.SingleBar(
          { format: 'train {bar} {value}/{total} | {losses} | {rate} it/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let barShown = false;
  let interrupted = false;
  const log = (line: string) => {
    // The bar redraws its own line: stop it before writing, the next step starts it again.
    if (barShown) bar!.stop();
    barShown = false;
    write(line);
  };
  const onSigint = () => {
    if (interrupted) process.exit(INTERRUPTED);
    interrupted = true;
    log('\ninterrupted: finishing this step, then saving a checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  return {
    log,
    onStart: (start, iters) => {
      bar?.start(iters, start, { losses: '', rate: '–' });
      barShown = Boolean(bar);
    },
    onStep: ({ step, iters, report, rate, logged }) => {
      if (bar) {
        if (!barShown) bar.start(iters, step, { losses: report.line, rate: '–' });
        barShown = true;
        bar.update(step, { losses: report.line, rate: rate.toFixed(2) });
      } else if (logged) {
        write(`step ${step}/${iters} ${report.line} ${rate.toFixed(2)} it/s`);
      }
    },
    shouldStop: () => interrupted,
    release: () => {
      if (barShown) bar!.stop();
      barShown = false;
      process.off('SIGINT', onSigint);
    },
  };
}

/** Runs a training watched from the terminal; a run stopped by Ctrl-C (its checkpoint saved and named) exits 130. */
export async function trainWatched<S>(train: (hooks: TrainHooks) => Promise<TrainOutcome<S>>): Promise<Extract<TrainOutcome<S>, { stopped: false }>['summary']> {
  const hooks = terminalHooks();
  const outcome = await train(hooks).finally(() => hooks.release());
  if (outcome.stopped) process.exit(INTERRUPTED);
  return outcome.summary;
}

/** Runs a command's main: a failure prints one line (a bad flag) or the stack, and exits 1. */
export function runCommand(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const err = e as Error;
    process.stderr.write(`\n${name}: ${err instanceof OptionError ? err.message : (err.stack ?? String(err))}\n`);
    process.exit(1);
  });
}
