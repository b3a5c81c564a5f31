// What the training tests read back from a run folder: the records of metrics.jsonl, and a silent log.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every record of a run's metrics.jsonl, in order. */
export function metricsRecords<T = Record<string, unknown>>(dir: string): T[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** A logged training step (`reg` only with an L2 regularizer). */
export interface TrainLine {
  kind: string;
  step: number;
  ce: number;
  reg?: number;
  total: number;
}

/** The training-step records of a run's metrics.jsonl. */
export function trainLines(dir: string): TrainLine[] {
  return metricsRecords<TrainLine>(dir).filter((l) => l.kind === 'train');
}

/** Training hooks that print nothing. */
export const quiet = { log: () => undefined };
