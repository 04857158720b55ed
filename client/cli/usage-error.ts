// An error the user caused by how they called the CLI: printed as one line, exit status 2.
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
}

export function isUsageError(e: unknown): e is UsageError {
  return e instanceof UsageError;
}

// A runtime failure the user can act on (a job that cannot be found, a port in use): one line, exit 1.
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function isCliError(e: unknown): e is CliError {
  return e instanceof CliError;
}
