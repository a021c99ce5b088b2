/**
 * Logging: pino everywhere. One root logger per process (or per test), children per part and per device
 * (`logger.child({ deviceId, kind, room })`). A file destination is written asynchronously (pino's sonic-boom);
 * `flushLogger` before exit, since asynchronous logging loses what is buffered on a crash (pino's own docs say so).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger } from 'pino'
export { isLogLevel, LOG_LEVELS, type LogLevel } from './log-levels.ts'

export interface LoggerOptions {
  level?: LevelWithSilent
  /** A file path, a file descriptor (1 = stdout, 2 = stderr), or the string `'silent'` (the default: no output). */
  destination?: string | number
  name?: string
}

export function createLogger (options: LoggerOptions = {}): Logger {
  const dest = options.destination ?? 'silent'
  if (dest === 'silent') return pino({ level: 'silent' })
  // A file: minLength 1, not sonic-boom's default 0: each line is still written at once (every line is longer than a byte),
  // but with 0 its flush(cb) calls back at once, before the write in progress (or the file's opening) is done, so
  // flushLogger resolved with lines missing from the file.
  const sync = typeof dest === 'number'
  const stream = pino.destination({ dest, sync, mkdir: true, ...(sync ? {} : { minLength: 1 }) })
  return pino({ level: options.level ?? 'info', name: options.name ?? 'homefleet', base: { pid: process.pid } }, stream)
}

/** A logger that drops everything: the default for the programmatic API and tests. */
export const silentLogger: Logger = pino({ level: 'silent' })

/** Flush a logger's buffered lines (file destinations are asynchronous). */
export function flushLogger (logger: Logger): Promise<void> {
  return new Promise((resolve) => { logger.flush(() => { resolve() }) })
}
