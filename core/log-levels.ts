/** Log level names, without pino: the CLI's option tables need them, and `fleet --help` should not load a logger. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export function isLogLevel (x: string): x is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(x)
}
