// Prints the plain closing line CI reads ("N passed, N failed, N skipped") after jest's own summary
// (on stderr, like jest's summary, so it comes last). A suite that fails to load counts as a failure.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stderr.write(`tests: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped\n`);
  }
}
