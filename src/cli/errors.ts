// How a command ends on an error (run.ts's runCommand prints it): a user error (a bad flag, a file that is not what it should be, a
// run folder in use, a diverged run) is one line and the --help hint; anything else is a bug and keeps
// its stack trace, as does every error with CSG_DEBUG=1.
const USER_ERRORS = new Set([
  'OptionError',
  'RunFolderError',
  'CheckpointError',
  'SafetensorsError',
  'DataError',
  'WeightsUnavailableError',
  'NonFiniteLossError',
  'NonFiniteStateError',
]);

export function isUserError(e: unknown): boolean {
  return e instanceof Error && USER_ERRORS.has(e.name);
}

/** The text a command prints for an error that ended it. */
export function describeFailure(command: string, e: unknown, debug = process.env.CSG_DEBUG === '1'): string {
  if (debug || !isUserError(e)) return `${command}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`;
  const first = (e as Error).message.split('\n')[0];
  return `${command}: ${first}\n(npm run ${command} -- --help lists the flags; CSG_DEBUG=1 shows the stack)\n`;
}
