// Parsing a subcommand's arguments with commander in exitOverride mode: --help, --version and
// usage errors end the command with commander's exit code instead of exiting the process.
import { CommanderError, type Command } from 'commander';

/** Parses argv into `program`; returns the exit code when commander already answered (help, usage error). */
export function parseOrExitCode(program: Command, argv: string[]): number | undefined {
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  return undefined;
}
