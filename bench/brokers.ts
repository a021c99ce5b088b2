/**
 * The brokers the benchmarks compare, each started in its own process on a free loopback port and ended by its PID:
 * mosquitto (the Debian package, a minimal configuration), plain aedes with its defaults, and HomeFleet's broker.
 * One more kind is not a broker: `node-tcp`, a bare Node TCP server that answers each connection's first bytes with a
 * CONNACK and does nothing else, the ceiling any broker on Node's `net` module can reach in a connection storm.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type BrokerKind = 'mosquitto' | 'aedes' | 'homefleet' | 'node-tcp'

/** A Node broker's `process.memoryUsage()`, in bytes, after a full garbage collection. */
export interface NodeMemory { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; rss: number }

export interface RunningBroker {
  kind: BrokerKind
  url: string
  pid: number
  /** The Node brokers' heap figures (undefined for mosquitto). Rejects after 10 s without an answer. */
  memory: (() => Promise<NodeMemory>) | undefined
  stop: () => Promise<void>
}

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

/** CPU time a process has used so far (user + system, all its threads), in ms, from /proc (10 ms resolution). */
export function cpuMs (pid: number): number {
  const { user, system } = cpuSplitMs(pid)
  return user + system
}

/** CPU time a process has used so far, in ms, split into user and system (kernel) time; see {@link cpuMs}. */
export function cpuSplitMs (pid: number): { user: number; system: number } {
  // Fields after the command name (which may contain spaces, so split after its closing parenthesis): utime is the
  // 14th field of the line, stime the 15th, both in clock ticks (100 a second on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 }
}

/** Open sockets of a process (its file descriptors that are sockets), from /proc. */
export function socketCount (pid: number): number {
  let n = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try { if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++ } catch { /* closed meanwhile */ }
  }
  return n
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
  return { kind: 'mosquitto', url: `mqtt://127.0.0.1:${port}`, pid: proc.pid as number, memory: undefined, stop: stopper(proc, () => { rmSync(dir, { recursive: true, force: true }) }) }
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
  // --expose-gc: the memory figures read the heap after a full collection.
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, kind], { stdio: ['pipe', 'pipe', 'inherit'] })
  // stdout carries `port N` once, then one `memory {…}` line per `memory` request.
  const lines: string[] = []
  const waiting: Array<(line: string) => void> = []
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
    for (let i = out.indexOf('\n'); i !== -1; i = out.indexOf('\n')) {
      const line = out.slice(0, i)
      out = out.slice(i + 1)
      const w = waiting.shift()
      if (w !== undefined) w(line)
      else lines.push(line)
    }
  })
  const nextLine = (what: string, ms: number): Promise<string> => new Promise((resolve, reject) => {
    const early = lines.shift()
    if (early !== undefined) { resolve(early); return }
    const give = (line: string): void => { clearTimeout(timer); proc.off('exit', onExit); resolve(line) }
    const fail = (why: string): void => {
      const at = waiting.indexOf(give)
      if (at !== -1) waiting.splice(at, 1)
      reject(new Error(why))
    }
    const onExit = (): void => { clearTimeout(timer); fail(`${kind} exited while waiting for ${what}`) }
    const timer = setTimeout(() => { proc.off('exit', onExit); fail(`${kind} did not answer ${what} within ${ms} ms`) }, ms)
    proc.once('exit', onExit)
    waiting.push(give)
  })
  const first = await nextLine('its port', 30_000)
  const m = /^port (\d+)$/.exec(first)
  if (m === null) { proc.kill('SIGKILL'); throw new Error(`${kind} printed ${JSON.stringify(first)} instead of its port`) }
  const port = Number(m[1])
  const memory = async (): Promise<NodeMemory> => {
    proc.stdin?.write('memory\n')
    const line = await nextLine('a memory request', 10_000)
    if (!line.startsWith('memory ')) throw new Error(`${kind} answered ${JSON.stringify(line)} to a memory request`)
    return JSON.parse(line.slice('memory '.length)) as NodeMemory
  }
  return { kind, url: `mqtt://127.0.0.1:${port}`, pid: proc.pid as number, memory, stop: stopper(proc, () => undefined) }
}
