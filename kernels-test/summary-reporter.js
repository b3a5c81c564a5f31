// Prints the plain closing line CI reads ("N passed, N failed, N skipped") as the very last line, after
// jest's own summary. A suite that fails to load counts as a failure.
import { writeSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped\n`;
    process.once('exit', () => writeSync(2, line));
  }
}
