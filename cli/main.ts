/**
 * `fleet`: the command line. A thin layer over the programmatic APIs (createBroker, runScenario, the log watcher):
 * it parses flags from the typed tables in commands.ts, runs one command, and turns its outcome into an exit code.
 * It never calls `process.exit` (bin/fleet.js sets `process.exitCode`), so tests call {@link main} in-process.
 *
 * Exit codes (the contract CI scripts rely on; docs/cli.md has the full table): 0 ok, 1 an expectation failed (or a run was aborted, or an unexpected error),
 * 2 bad usage or bad input file, 3 broker unreachable or refused (or cannot listen).
 */
import { formatError, isFleetError } from '../core/errors.ts'
import { findCommand, GLOBAL_OPTIONS, type Command } from './commands.ts'
import { formatCommandHelp, formatMainHelp, unknownCommand, version } from './help.ts'
import { interrupts, processIo, type CliIo } from './io.ts'
import { suggest } from '../core/suggest.ts'
import { flagName, parseCommandLine, UsageError } from './options.ts'

export type { CliIo, OutStream } from './io.ts'

const GLOBAL_FLAGS: ReadonlyMap<string, keyof typeof GLOBAL_OPTIONS> = new Map(
  (Object.entries(GLOBAL_OPTIONS) as [keyof typeof GLOBAL_OPTIONS, (typeof GLOBAL_OPTIONS)[keyof typeof GLOBAL_OPTIONS]][])
    .flatMap(([key, spec]) => [[`--${flagName(key)}`, key], ...(spec.short === undefined ? [] : [[`-${spec.short}`, key]])] as [string, keyof typeof GLOBAL_OPTIONS][])
)

/**
 * Run `fleet` with `argv` (without `node` and the script) and resolve with the exit code.
 *
 * @example
 * const out: string[] = []
 * const io = { stdout: { write: (s: string) => out.push(s) }, stderr: process.stderr, env: {} }
 * const code = await main(['logs', '--count', '1'], io)
 */
export async function main (argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // Known before parsing, so that even an error while parsing is reported with --debug's detail. `--debug` is a
  // switch, so the parser can only read it as this exact word; after `--` it is an argument, not the flag.
  const end = argv.indexOf('--')
  const debug = (end === -1 ? argv : argv.slice(0, end)).includes('--debug') || io.env.FLEET_DEBUG === '1'
  if (io === processIo) tolerateClosedPipes()
  try {
    return await dispatch(argv, io, debug)
  } catch (err) {
    return reportError(err, io, debug)
  }
}

let pipesGuarded = false

/**
 * `fleet run demo --json | head -1`, or a terminal closed mid-run: a write to a closed pipe is an 'error' event,
 * which without a listener kills the process with a stack trace and exit 1 whatever the run earned. The output is
 * lost either way; the run still finishes, cleans up and returns its own exit code.
 */
function tolerateClosedPipes (): void {
  if (pipesGuarded) return
  pipesGuarded = true
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
    })
  }
}

async function dispatch (argv: readonly string[], io: CliIo, debug: boolean): Promise<number> {
  // Global flags may come before the command: `fleet --debug run demo`, `fleet --help`, `fleet -v`.
  let i = 0
  const before = new Set<string>()
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('-') || arg === '-') break
    const key = GLOBAL_FLAGS.get(arg)
    if (key === undefined) {
      const name = arg.replace(/^-+/, '').split('=')[0] ?? ''
      const hint = arg.startsWith('--') ? suggest(name, Object.keys(GLOBAL_OPTIONS).map(flagName)) : undefined
      throw new UsageError('', `unknown option ${arg}${hint === undefined ? '' : ` (did you mean --${hint}?)`}; a command's options go after the command`)
    }
    before.add(key)
  }
  const name = argv[i]
  if (name === undefined || name === '--') {
    if (before.has('help')) { io.stdout.write(formatMainHelp()); return 0 }
    if (before.has('version')) { io.stdout.write(`${version()}\n`); return 0 }
    io.stderr.write(formatMainHelp(true))
    throw new UsageError('', 'no command given')
  }
  if (before.has('version') && !before.has('help')) { io.stdout.write(`${version()}\n`); return 0 }

  const command = findCommand(name)
  if (command === undefined) throw unknownCommand(name)

  const rest = argv.slice(i + 1)
  const end = rest.indexOf('--')
  const flags = end === -1 ? rest : rest.slice(0, end)
  if (before.has('help') || flags.includes('--help') || flags.includes('-h')) {
    io.stdout.write(formatCommandHelp(command))
    return 0
  }

  return runCommand(command, rest, io, debug)
}

async function runCommand (command: Command, args: readonly string[], io: CliIo, debug: boolean): Promise<number> {
  const table = { ...GLOBAL_OPTIONS, ...command.options }
  const parsed = parseCommandLine(command.name, table, args, command.positionals)
  if (parsed.values.version === true) { io.stdout.write(`${version()}\n`); return 0 }
  const stop = interrupts(io)
  try {
    return await command.run({ options: parsed.values, positionals: parsed.positionals, io, signal: stop.signal, debug })
  } finally {
    stop.dispose()
  }
}

/** Print an error the way its kind deserves, and return its exit code. */
export function reportError (err: unknown, io: CliIo, debug: boolean): number {
  if (isFleetError(err)) {
    io.stderr.write(`${formatError(err)}\n`)
    if (err instanceof UsageError) {
      io.stderr.write(`Run 'fleet ${err.command === '' ? '' : `${err.command} `}--help' for usage.\n`)
    } else if (debug) {
      io.stderr.write(`${describeCauses(err)}`)
    }
    return err.exitCode
  }
  io.stderr.write(`fleet: unexpected error: ${formatError(err)}\n`)
  if (debug) io.stderr.write(describeCauses(err))
  else io.stderr.write('(run again with --debug or FLEET_DEBUG=1 for the stack trace)\n')
  return 1
}

function describeCauses (err: unknown): string {
  const out: string[] = []
  let e: unknown = err
  for (let depth = 0; e !== undefined && depth < 8; depth++) {
    out.push(depth === 0 ? '' : 'Caused by:', e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : formatError(e))
    e = e instanceof Error ? e.cause : undefined
  }
  return out.filter((l) => l !== '').join('\n') + '\n'
}
