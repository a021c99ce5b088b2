/**
 * `fleet run <scenario>`: find and load the scenario, run it with live progress, print and write the report.
 * Exit 0 passed, 1 failed or aborted, 3 broker lost, 4 inconclusive; errors from loading (2) and from the broker (3)
 * carry their own codes, and `--report` gets a report for them too.
 */
import { access, constants, mkdir, stat, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { FleetError, isFleetError } from '../core/errors.ts'
import { createLogger, flushLogger, silentLogger, type Logger } from '../core/logger.ts'
import {
  BUILTIN_SCENARIOS, builtinScenarioPath, exitCodeOf, formatReport, loadScenarioFile, runScenario, type ScenarioReport
} from '../scenarios/index.ts'
import type { CommandContext, RunValues } from './commands.ts'
import { abortReasonText, useColor } from './io.ts'
import { UsageError } from './options.ts'
import { ProgressView } from './progress.ts'

/** A path when that file exists, else the built-in scenario of that name; FLEET_ERR_SCENARIO_NOT_FOUND otherwise. */
export async function resolveScenario (arg: string): Promise<string> {
  const s = await stat(arg).catch(() => undefined)
  if (s?.isFile() === true) return arg
  const builtin = builtinScenarioPath(arg)
  if (builtin !== undefined) return builtin
  if (s !== undefined) throw new FleetError('FLEET_ERR_SCENARIO_NOT_FOUND', `${JSON.stringify(arg)} is ${s.isDirectory() ? 'a directory, not a scenario file' : 'not a regular file'}`)
  const names = BUILTIN_SCENARIOS.length === 0 ? 'none' : BUILTIN_SCENARIOS.join(', ')
  throw new FleetError('FLEET_ERR_SCENARIO_NOT_FOUND', `no scenario file ${JSON.stringify(arg)} (in ${process.cwd()}) and no built-in scenario of that name (built-ins: ${names})`)
}

/** Fail before the run, not after it, when a file we must write cannot be written. */
async function checkWritable (flag: string, file: string): Promise<void> {
  const dir = dirname(resolve(file))
  try {
    // Create missing levels one at a time rather than with { recursive: true }: Node 20's recursive mkdir spins
    // forever under /proc (e.g. --report /proc/x/r.json), where a single mkdir fails at once.
    const missing: string[] = []
    let existing = dir
    let found = await stat(existing).catch(() => undefined)
    while (found === undefined && dirname(existing) !== existing) {
      missing.unshift(existing)
      existing = dirname(existing)
      found = await stat(existing).catch(() => undefined)
    }
    if (found?.isDirectory() !== true) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
    for (const level of missing) await mkdir(level)
    await access(dir, constants.W_OK)
    const s = await stat(file).catch(() => undefined)
    if (s?.isDirectory() === true) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new UsageError('run', `--${flag} ${JSON.stringify(file)} cannot be written: ${e.code ?? e.message}`)
  }
}

/**
 * The report of a run that could not happen (exit 2 or 3): what was asked, and the error with its problems, so a CI
 * job that archives `--report` has something to show for every exit code.
 */
export interface RunErrorReport {
  result: 'error'
  scenario: string
  startedAt: string
  exitCode: number
  error: { code: string; message: string; issues: ReadonlyArray<{ file?: string; line?: number; column?: number; path: string; message: string }> }
}

export async function runScenarioCommand (ctx: CommandContext<RunValues>): Promise<number> {
  const { options: o } = ctx
  if (o.report !== undefined) await checkWritable('report', o.report)
  if (o.logFile !== undefined) await checkWritable('log-file', o.logFile)
  const startedAt = new Date().toISOString()
  try {
    return await runChecked(ctx)
  } catch (err) {
    if (o.report !== undefined && isFleetError(err)) {
      const report: RunErrorReport = {
        result: 'error',
        scenario: ctx.positionals[0] as string,
        startedAt,
        exitCode: err.exitCode,
        error: { code: err.code, message: err.message, issues: err.issues }
      }
      await writeFile(o.report, `${JSON.stringify(report, null, 2)}\n`).catch(() => undefined)
    }
    throw err
  }
}

async function runChecked (ctx: CommandContext<RunValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const arg = ctx.positionals[0] as string
  const scenario = await loadScenarioFile(await resolveScenario(arg))
  const broker = o.broker ?? scenario.broker
  if (broker !== 'embedded' && (o.port !== undefined || o.host !== undefined)) {
    const flag = o.port !== undefined ? '--port' : '--host'
    throw new UsageError('run', `${flag} sets up the embedded broker, but this run uses ${broker}${o.broker === undefined ? ' (from the scenario file)' : ''}`)
  }

  const logger: Logger = o.logFile === undefined ? silentLogger : createLogger({ level: o.logLevel, destination: o.logFile, name: 'fleet' })
  const view = o.quiet ? undefined : new ProgressView(io.stderr, { color: useColor(io.stderr, io.env) })
  const runOptions: NonNullable<Parameters<typeof runScenario>[1]> = { logger, signal }
  if (view !== undefined) runOptions.onProgress = (e) => { view.handle(e) }
  if (o.broker !== undefined) runOptions.broker = o.broker
  if (o.port !== undefined) runOptions.port = o.port
  if (o.host !== undefined) runOptions.host = o.host
  runOptions.brokerThread = o.brokerThread
  if (o.seed !== undefined) runOptions.seed = o.seed
  if (o.speed !== undefined) runOptions.speed = o.speed
  if (o.prefix !== undefined) runOptions.prefix = o.prefix
  if (o.clearRetained !== undefined) runOptions.clearRetained = o.clearRetained
  if (o.dataDir !== undefined) runOptions.dataDir = o.dataDir
  runOptions.connectTimeoutMs = o.connectTimeout
  runOptions.brokerGraceMs = o.brokerGrace

  let report: ScenarioReport
  try {
    report = await runScenario(scenario, runOptions)
  } catch (err) {
    // A runner that rejects on abort instead of reporting `aborted`: still exit 1, with a word on why.
    if (signal.aborted && !(err instanceof FleetError)) {
      view?.close()
      io.stderr.write(`fleet run: aborted (${abortReasonText(signal)})\n`)
      return 1
    }
    throw err
  } finally {
    view?.close()
    if (logger !== silentLogger) await flushLogger(logger)
  }

  if (o.report !== undefined) await writeFile(o.report, `${JSON.stringify(report, null, 2)}\n`)
  if (o.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    const text = formatReport(report)
    io.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }
  if (report.result === 'aborted' && !o.quiet) io.stderr.write(`fleet run: aborted (${abortReasonText(signal)})\n`)
  if (report.result === 'broker-lost') io.stderr.write(`FLEET_ERR_BROKER_LOST: ${report.brokerLost ?? 'lost the broker'}\n`)
  return exitCodeOf(report)
}
