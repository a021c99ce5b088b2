/**
 * What a command may touch of its process: two output streams, the environment, and a stop signal. `main` takes
 * this as a parameter, so tests run commands in-process with captured output and their own AbortController
 * instead of spawning a process per case.
 */

/** The part of a writable stream the CLI uses: `process.stdout` is one, and so is `{ write (s) { out += s } }`. */
export interface OutStream {
  write (chunk: string): unknown
  /** True for a terminal: enables the updating status line (stderr) and colours (stdout). */
  readonly isTTY?: boolean | undefined
  /** Terminal width, to keep the status line on one row. */
  readonly columns?: number | undefined
}

export interface CliIo {
  readonly stdout: OutStream
  readonly stderr: OutStream
  /** Input for commands that read it (`fleet voice parse` without an utterance); default: none (empty). */
  readonly stdin?: NodeJS.ReadableStream
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Stops a long-running command (`broker`, `logs`, `run`). Default: the process's first SIGINT or SIGTERM.
   * Tests pass their own.
   */
  readonly signal?: AbortSignal
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin }

/** The reason a command was stopped: `interrupted by SIGINT`, with `name` `AbortError` like other aborts. */
export class InterruptError extends Error {
  readonly signalName: string
  constructor (signalName: string) {
    super(`interrupted by ${signalName}`)
    this.name = 'AbortError'
    this.signalName = signalName
  }
}

export interface Interrupts {
  readonly signal: AbortSignal
  dispose (): void
}

/**
 * The signal a command watches. With the process's signals, the listeners are removed after the first signal,
 * so a second Ctrl-C while a command is closing ends the process the default way (exit 130): an escape hatch if
 * closing hangs.
 */
export function interrupts (io: CliIo): Interrupts {
  if (io.signal !== undefined) return { signal: io.signal, dispose () {} }
  const controller = new AbortController()
  const dispose = (): void => {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
  }
  const stop = (name: string): void => { dispose(); controller.abort(new InterruptError(name)) }
  const onInt = (): void => { stop('SIGINT') }
  const onTerm = (): void => { stop('SIGTERM') }
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return { signal: controller.signal, dispose }
}

/** A promise that resolves when `signal` aborts (at once if it already has). Never rejects. */
export function whenAborted (signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
}

/** `SIGINT` for an interrupt, else the abort reason's message. */
export function abortReasonText (signal: AbortSignal): string {
  const r: unknown = signal.reason
  if (r instanceof InterruptError) return r.signalName
  if (r instanceof Error) return r.message
  return 'aborted'
}

/** Colour on stdout: only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor (stream: OutStream, env: CliIo['env']): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '')
}
