/**
 * Real mosquitto tools for interop tests. On a machine without them the interop suites are skipped (so a fresh
 * `npm install && npm test` passes); CI installs them and sets HOMEFLEET_REQUIRE_INTEROP=1, which turns a missing
 * tool into a failure, so interop cannot silently stop being tested.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closedPort } from './net.ts'

export const mosquittoBin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p))
const which = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
export const hasClients = which('mosquitto_sub') && which('mosquitto_pub')
export const interopRequired = process.env.HOMEFLEET_REQUIRE_INTEROP === '1'

/** `describe` or `describe.skip`, failing loudly when interop is required but the tools are missing. */
export function interopAvailable (needBroker: boolean): boolean {
  const ok = hasClients && (!needBroker || mosquittoBin !== undefined)
  if (!ok && interopRequired) throw new Error('HOMEFLEET_REQUIRE_INTEROP=1 but mosquitto / mosquitto-clients are not installed')
  return ok
}

export interface Mosquitto {
  url: string
  port: number
  /** Everything mosquitto logged so far (notices included: "Outgoing messages are being dropped…"). */
  readonly log: string
  /** SIGKILL, as a crash: no DISCONNECT, no clean close. Resolves once the process is gone. */
  kill: () => Promise<void>
  /** Start it again on the same port (after kill); resolves once it accepts connections. */
  restart: () => Promise<void>
  stop: () => Promise<void>
}

export interface MosquittoOptions {
  /** Lines added to the configuration, e.g. `max_queued_messages 100`. */
  config?: readonly string[]
}

/** How long mosquitto may take to open its listener. */
const START_TIMEOUT_MS = 15_000

/** Start a private mosquitto on a free loopback port; resolves once it accepts connections. */
export async function startMosquitto (options: MosquittoOptions = {}): Promise<Mosquitto> {
  if (mosquittoBin === undefined) throw new Error('mosquitto is not installed')
  const bin = mosquittoBin
  const dir = mkdtempSync(join(tmpdir(), 'homefleet-mosq-'))
  const conf = join(dir, 'mosquitto.conf')
  let log = ''
  const launch = (port: number): Promise<ChildProcess | undefined> => {
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', ...(options.config ?? [])].join('\n') + '\n')
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    return new Promise((resolve) => {
      let err = ''
      const timer = setTimeout(() => { proc.kill('SIGKILL'); resolve(undefined) }, START_TIMEOUT_MS)
      proc.stderr?.on('data', (d: Buffer) => {
        err += d.toString()
        log += d.toString()
        // "Opening … listen socket" comes before the listener is open; " running" once every listener is.
        if (/ running/.test(err)) { clearTimeout(timer); resolve(proc) }
      })
      proc.on('exit', () => { clearTimeout(timer); resolve(undefined) })
    })
  }
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort()
    let proc = await launch(port)
    if (proc !== undefined) {
      return {
        url: `mqtt://127.0.0.1:${port}`,
        port,
        get log () { return log },
        kill: async () => {
          const p = proc
          if (p === undefined) return
          await new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) { resolve(); return }
            p.once('exit', () => { resolve() })
            p.kill('SIGKILL')
          })
          proc = undefined
        },
        restart: async () => {
          // The port was ours a moment ago; a few tries cover a listener still in TIME_WAIT.
          for (let i = 0; i < 5 && proc === undefined; i++) proc = await launch(port)
          if (proc === undefined) throw new Error(`mosquitto did not start again on port ${port}`)
        },
        stop: async () => {
          if (proc !== undefined) await stopProcess(proc)
          proc = undefined
          rmSync(dir, { recursive: true, force: true })
        }
      }
    }
    if (attempt >= 3) throw new Error(`mosquitto did not start (within ${START_TIMEOUT_MS} ms, 4 tries)`)
  }
}

export function stopProcess (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    proc.once('exit', () => { resolve() })
    proc.kill('SIGTERM')
  })
}

/** Run a mosquitto client tool to completion; resolves with its stdout and exit code. */
export function runTool (cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, timeoutMs)
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/** Start a long-running tool (mosquitto_sub); `waitLines(n)` resolves once its stdout has n lines. Caller kills it. */
export function spawnTool (cmd: string, args: string[]): { proc: ChildProcess; lines: string[]; waitLines: (n: number, timeoutMs?: number) => Promise<string[]> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buf = ''
  const waiters: Array<{ n: number; resolve: (l: string[]) => void }> = []
  const wait = (n: number, timeoutMs = 20_000): Promise<string[]> => {
    if (lines.length >= n) return Promise.resolve(lines.slice(0, n))
    return new Promise((resolve, reject) => {
      const w = { n, resolve: (l: string[]) => { clearTimeout(timer); resolve(l) } }
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1)
        reject(new Error(`${cmd}: waited ${timeoutMs} ms for ${n} lines of output, got ${lines.length}: ${JSON.stringify(lines.slice(-3))}`))
      }, timeoutMs)
      waiters.push(w)
    })
  }
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1) }
    for (const w of [...waiters]) if (lines.length >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.resolve(lines.slice(0, w.n)) }
  })
  return {
    proc,
    lines,
    waitLines: wait
  }
}
