/**
 * A ConfigurationError is the user's mistake (bad input, bad file, bad config): exit code 2 and one
 * clear message, no stack trace. Anything else that escapes a command is a bug in mlgate.
 */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
  constructor(
    message: string,
    /** The input, file, line or column the message is about, when there is one. */
    readonly where?: string,
  ) {
    super(where ? `${where}: ${message}` : message);
  }
}

export const ExitCode = { Passed: 0, GateFailed: 1, ConfigurationError: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export function isConfigurationError(e: unknown): e is ConfigurationError {
  return e instanceof ConfigurationError;
}
