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

export interface Mosquitto { url: string; port: number; stop: () => Promise<void> }

/** Start a private mosquitto on a free loopback port; resolves once it accepts connections. */
export async function startMosquitto (): Promise<Mosquitto> {
  if (mosquittoBin === undefined) throw new Error('mosquitto is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'homefleet-mosq-'))
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort()
    const conf = join(dir, 'mosquitto.conf')
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n`)
    const proc = spawn(mosquittoBin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    const ok = await new Promise<boolean>((resolve) => {
      let err = ''
      proc.stderr?.on('data', (d: Buffer) => {
        err += d.toString()
        if (/Opening ipv4 listen socket on port/.test(err) || / running/.test(err)) resolve(true)
      })
      proc.on('exit', () => { resolve(false) })
    })
    if (ok) {
      return {
        url: `mqtt://127.0.0.1:${port}`,
        port,
        stop: () => stopProcess(proc).then(() => { rmSync(dir, { recursive: true, force: true }) })
      }
    }
    if (attempt >= 3) throw new Error('mosquitto did not start')
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

/** Start a long-running tool (mosquitto_sub) and resolve when its stdout shows `ready` lines; caller kills it. */
export function spawnTool (cmd: string, args: string[]): { proc: ChildProcess; lines: string[]; waitLines: (n: number) => Promise<string[]> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buf = ''
  const waiters: Array<{ n: number; resolve: (l: string[]) => void }> = []
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1) }
    for (const w of [...waiters]) if (lines.length >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.resolve(lines.slice(0, w.n)) }
  })
  return {
    proc,
    lines,
    waitLines: (n) => lines.length >= n ? Promise.resolve(lines.slice(0, n)) : new Promise((resolve) => waiters.push({ n, resolve }))
  }
}
