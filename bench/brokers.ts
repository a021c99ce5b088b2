/**
 * The brokers the benchmarks compare, each started in its own process on a free loopback port and ended by its PID:
 * mosquitto (the Debian package, a minimal configuration), plain aedes with its defaults, and HomeFleet's broker.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
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

/** Resolve once a TCP connection to 127.0.0.1:port opens, retrying every 50 ms; reject after `ms`. */
async function untilListening (port: number, ms: number, what: string, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const why = exited()
    if (why !== undefined) throw new Error(why)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => { s.destroy(); resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${what} is not accepting connections on 127.0.0.1:${port} after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function startMosquitto (extraConfig: readonly string[]): Promise<RunningBroker> {
  if (MOSQUITTO === undefined) throw new Error('mosquitto is not installed (apt-get install mosquitto)')
  const dir = mkdtempSync(join(tmpdir(), 'homefleet-bench-'))
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  // Minimal: one loopback listener, anonymous clients; limits are mosquitto's defaults.
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type information\n${extraConfig.map((l) => l + '\n').join('')}`)
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  const exited = (): string | undefined => proc.exitCode !== null || proc.signalCode !== null ? `mosquitto exited: ${err.trim()}` : undefined
  try {
    // mosquitto logs "Opening … listen socket" before it listens; only a connection that opens says it is ready.
    await untilListening(port, 10_000, 'mosquitto', exited)
  } catch (e) {
    proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  return { kind: 'mosquitto', url: `mqtt://127.0.0.1:${port}`, pid: proc.pid as number, stop: stopper(proc, () => { rmSync(dir, { recursive: true, force: true }) }) }
}

/** Start a broker of `kind`; `mosquittoConfig` adds lines to mosquitto's configuration (e.g. `max_connections -1`). */
export async function startBroker (kind: BrokerKind, mosquittoConfig: readonly string[] = []): Promise<RunningBroker> {
  if (kind === 'mosquitto') {
    // The free port is chosen before mosquitto binds it; should another process take it meanwhile, try another.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startMosquitto(mosquittoConfig)
      } catch (e) {
        if (attempt >= 3 || !/in use/i.test(String(e))) throw e
      }
    }
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
