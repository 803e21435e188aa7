// Errors the CLI turns into one clear line and a non-zero exit.

/** A bad configuration value: names the file (or "command line") and the field at fault. */
export class ConfigError extends Error {
  readonly file: string;
  readonly field: string;
  constructor(file: string, field: string, problem: string) {
    super(field ? `${file}: ${field}: ${problem}` : `${file}: ${problem}`);
    this.name = 'ConfigError';
    this.file = file;
    this.field = field;
  }
}

/** A problem the user must fix outside the program (a file, a port, a kernel module). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
