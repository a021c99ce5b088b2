/**
 * The brokers the benchmarks compare, each started in its own process on a free loopback port and ended by its PID:
 * mosquitto (the Debian package, a minimal configuration), plain aedes with its defaults, and HomeFleet's broker.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type BrokerKind = 'mosquitto' | 'aedes' | 'homefleet'

export interface RunningBroker { kind: BrokerKind; url: string; pid: number; stop: () => Promise<void> }

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p))

async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  return port
}

function stopper (proc: ChildProcess, cleanup: () => void): () => Promise<void> {
  return () => new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) { cleanup(); resolve(); return }
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, 5000)
    proc.once('exit', () => { clearTimeout(timer); cleanup(); resolve() })
    proc.kill('SIGTERM')
  })
}

/** Resident memory of a process, in KiB (VmRSS from /proc). */
export function rssKiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

export async function startBroker (kind: BrokerKind): Promise<RunningBroker> {
  if (kind === 'mosquitto') {
    if (MOSQUITTO === undefined) throw new Error('mosquitto is not installed (apt-get install mosquitto)')
    const dir = mkdtempSync(join(tmpdir(), 'homefleet-bench-'))
    const port = await freePort()
    const conf = join(dir, 'mosquitto.conf')
    // Minimal: one loopback listener, anonymous clients; limits are mosquitto's defaults.
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type information\n`)
    const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    await new Promise<void>((resolve, reject) => {
      let err = ''
      const timer = setTimeout(() => { reject(new Error(`mosquitto did not start: ${err}`)) }, 10_000)
      proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); if (/listen socket on port|running/.test(err)) { clearTimeout(timer); resolve() } })
      proc.once('exit', () => { clearTimeout(timer); reject(new Error(`mosquitto exited: ${err}`)) })
    })
    return { kind, url: `mqtt://127.0.0.1:${port}`, pid: proc.pid as number, stop: stopper(proc, () => { rmSync(dir, { recursive: true, force: true }) }) }
  }
  const script = fileURLToPath(new URL('./broker-process.ts', import.meta.url))
  const proc = spawn(process.execPath, ['--import', 'tsx', script, kind], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`${kind} did not start`)) }, 30_000)
    proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); const m = /port (\d+)/.exec(out); if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) } })
    proc.once('exit', () => { clearTimeout(timer); reject(new Error(`${kind} exited before listening`)) })
  })
  return { kind, url: `mqtt://127.0.0.1:${port}`, pid: proc.pid as number, stop: stopper(proc, () => undefined) }
}
