// What the commands share around src/train's core: the progress bar, Ctrl-C and SIGTERM (finish the
// step, save a checkpoint, exit 130 or 143; a second signal quits at once) and the one-line error and
// exit status of a failed command (errors.ts).
import cliProgress from 'cli-progress';
import type { TrainHooks, TrainOutcome } from '../train/core.js';
import { describeFailure } from './errors.js';

/** Exit status of a run stopped by a signal (128 + its number), as shells report it. */
const EXIT_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Hooks for a training run watched from a terminal: a progress bar (when stderr is a terminal or
 * CSG_PROGRESS=1; else a line per logged step) and Ctrl-C as `shouldStop`. `release()` removes the
 * signal handler.
 */
function terminalHooks(): TrainHooks & { release(): void; stoppedBy(): NodeJS.Signals | null } {
  const write = (s: string) => process.stderr.write(`${s}\n`);
  const bar =
    process.stderr.isTTY || process.env.CSG_PROGRESS === '1'
      ? new cliProgress.SingleBar(
          { format: 'train {bar} {value}/{total} | {losses} | {rate} it/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let barShown = false;
  let interrupted: NodeJS.Signals | null = null;
  const log = (line: string) => {
    // The bar redraws its own line: stop it before writing, the next step starts it again.
    if (barShown) bar!.stop();
    barShown = false;
    write(line);
  };
  // SIGTERM is what schedulers and `kill` send: it saves a checkpoint as Ctrl-C does.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(EXIT_STATUS[signal]);
    interrupted = signal;
    const again = signal === 'SIGINT' ? 'Ctrl-C' : signal;
    log(`\n${signal === 'SIGINT' ? 'interrupted' : signal}: finishing this step, then saving a checkpoint (${again} again to quit now)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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
    shouldStop: () => interrupted !== null,
    stoppedBy: () => interrupted,
    release: () => {
      if (barShown) bar!.stop();
      barShown = false;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Runs a training watched from the terminal; a run stopped by a signal (its checkpoint saved and named) exits 130 or 143. */
export async function trainWatched<S>(train: (hooks: TrainHooks) => Promise<TrainOutcome<S>>): Promise<Extract<TrainOutcome<S>, { stopped: false }>['summary']> {
  const hooks = terminalHooks();
  const outcome = await train(hooks).finally(() => hooks.release());
  if (outcome.stopped) process.exit(EXIT_STATUS[hooks.stoppedBy() ?? 'SIGINT']);
  return outcome.summary;
}

/** Runs a command's main: a failure prints one line and the --help hint (a user error) or the stack (a bug), and exits 1. */
export function runCommand(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`\n${describeFailure(name, e)}`);
    process.exit(1);
  });
}
