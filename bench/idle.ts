/**
 * The memory an idle MQTT connection costs a broker, measured so that it cannot quietly read 0: every connection is
 * established (CONNACK 0) and answered a PINGREQ, the broker process is seen holding that many sockets, and the RSS
 * is read before and after, each once it has settled. Anything short of that throws, naming what fell short.
 *
 * A warm-up opens and closes a batch of connections first, so one-time costs (code compiled on first use, the
 * garbage collector's young generation growing to its working size, allocator arenas) are not divided among the
 * measured connections; every broker gets the same warm-up. It is repeated until a round no longer grows the broker's
 * settled RSS (by more than 1 %, at most `warmupRounds` rounds): one round of 1,000 connections is not enough for a
 * Node broker whose young generation (32 MiB by default) only gets touched in full after tens of MiB of allocation,
 * and that bounded, one-time growth would otherwise be counted as the measured connections' own.
 */
import { encodeConnect, LeanClient } from './load/lean-client.ts'
import { rssKiB, socketCount, type NodeMemory, type RunningBroker } from './brokers.ts'

export interface IdleOptions {
  /** Connections held for the measurement. */
  connections: number
  /** Connections opened and closed before the measurement, per warm-up round. Default 1,000. */
  warmup: number
  /** Most warm-up rounds: they stop once one no longer grows the settled RSS by more than 1 %. Default 10. */
  warmupRounds: number
  /** Connects in progress at once (CONNECT sent, CONNACK not yet received). Default 100. */
  concurrency: number
  /** Longest the connecting may take, per batch. Default 120 s. */
  timeoutMs: number
}

export interface IdleResult {
  connections: number
  /** Warm-up rounds run, and the broker's settled RSS after the first and the last of them. */
  warmupRounds: number
  rssAfterFirstWarmupKiB: number
  /** Sockets the broker process holds with the connections open (its listener and others included). */
  brokerSockets: number
  connectMs: number
  rssBeforeKiB: number
  rssAfterKiB: number
  /** (after − before) ÷ connections. */
  rssPerConnectionKiB: number
  /** Node brokers: heap in use after a full collection, (after − before) ÷ connections. */
  heapPerConnectionKiB: number | undefined
  /** Node brokers: the rest of the RSS growth (heap pages reserved but unused, native memory), per connection. */
  otherPerConnectionKiB: number | undefined
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

/** A set of idle lean clients: opened with a bounded number of connects in progress, verified, closed. */
class IdleConnections {
  readonly clients: LeanClient[] = []
  private readonly failures = new Map<string, number>()
  /** Called on each PINGRESP during {@link IdleConnections.verify}. */
  private pong: () => void = () => undefined

  constructor (private readonly host: string, private readonly port: number, private readonly prefix: string) {}

  private fail (reason: string): void { this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1) }

  private failureText (): string {
    return this.failures.size === 0 ? 'no errors seen' : [...this.failures].map(([k, v]) => `${k} ×${v}`).join(', ')
  }

  /** Open `count` connections; each is retried up to 3 times. Rejects, naming how far it got, past `timeoutMs`. */
  open (count: number, concurrency: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let started = 0
      let inProgress = 0
      let established = 0
      let settled = false
      const timer = setTimeout(() => { finish(new Error(`${established} of ${count} connections established within ${timeoutMs / 1000} s (${this.failureText()})`)) }, timeoutMs)
      const finish = (err?: Error): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err === undefined) resolve()
        else reject(err)
      }
      const attempt = (index: number, tries: number): void => {
        inProgress++
        let done = false
        const settle = (ok: boolean, reason: string): void => {
          if (done) return
          done = true
          inProgress--
          if (ok) {
            established++
            if (established === count) { finish(); return }
          } else {
            this.fail(reason)
            if (tries >= 3) { finish(new Error(`connection ${index} failed 3 times (${this.failureText()}); ${established} of ${count} established`)); return }
            attempt(index, tries + 1)
            return
          }
          pump()
        }
        const client: LeanClient = new LeanClient(this.host, this.port, {
          connack: (code) => {
            if (code === 0) { this.clients.push(client); settle(true, '') } else { client.destroy(); settle(false, `CONNACK ${code}`) }
          },
          suback: () => undefined,
          publish: () => undefined,
          puback: () => undefined,
          pingresp: () => { this.pong() },
          error: (reason) => { this.fail(reason) },
          close: () => { settle(false, 'closed before CONNACK') }
        })
        client.socket.once('connect', () => { client.write(encodeConnect(`${this.prefix}-${index}`)) })
      }
      const pump = (): void => {
        while (!settled && inProgress < concurrency && started < count) attempt(started++, 1)
      }
      pump()
    })
  }

  /** Every connection answers a PINGREQ: the broker holds each one at the MQTT level, not just the TCP one. */
  verify (timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let answered = 0
      const total = this.clients.length
      const timer = setTimeout(() => { reject(new Error(`${answered} of ${total} connections answered a PINGREQ within ${timeoutMs / 1000} s`)) }, timeoutMs)
      this.pong = () => { if (++answered === total) { clearTimeout(timer); resolve() } }
      for (const c of this.clients) c.ping()
      if (total === 0) { clearTimeout(timer); resolve() }
    })
  }

  /** Close every connection; resolves once each socket has closed. */
  async close (): Promise<void> {
    const closed = this.clients.map((c) => new Promise<void>((resolve) => {
      if (c.socket.destroyed) resolve()
      else c.socket.once('close', () => { resolve() })
    }))
    for (const c of this.clients) c.destroy()
    await Promise.all(closed)
    this.clients.length = 0
  }
}

/** The RSS once it has settled: samples 500 ms apart until two differ by less than 1 % of `scale`, at most 10 s. */
async function settledRss (pid: number, scaleKiB: number): Promise<number> {
  let last = rssKiB(pid)
  for (let i = 0; i < 20; i++) {
    await sleep(500)
    const now = rssKiB(pid)
    if (Math.abs(now - last) <= Math.max(64, scaleKiB / 100)) return now
    last = now
  }
  return last
}

async function memoryOf (b: RunningBroker): Promise<NodeMemory | undefined> {
  return b.memory === undefined ? undefined : await b.memory()
}

/** Until the broker process holds at most `max` sockets (the warm-up's connections closed on its side too). */
async function untilSocketsAtMost (pid: number, max: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (let n = socketCount(pid); n > max; n = socketCount(pid)) {
    if (Date.now() > deadline) throw new Error(`the broker still holds ${n} sockets ${ms / 1000} s after the warm-up's connections closed (expected at most ${max})`)
    await sleep(100)
  }
}

export async function measureIdleConnections (b: RunningBroker, given: Partial<IdleOptions> = {}): Promise<IdleResult> {
  const o: IdleOptions = { connections: 10_000, warmup: 1000, warmupRounds: 10, concurrency: 100, timeoutMs: 120_000, ...given }
  const url = new URL(b.url)
  const host = url.hostname
  const port = Number(url.port)
  const baseSockets = socketCount(b.pid)

  let rounds = 0
  let rssAfterFirstWarmup = 0
  for (let previous = 0; o.warmup > 0 && rounds < o.warmupRounds;) {
    const warm = new IdleConnections(host, port, `idle-warmup${rounds}`)
    try {
      await warm.open(o.warmup, o.concurrency, o.timeoutMs)
      await warm.verify(30_000)
    } finally {
      await warm.close()
    }
    await untilSocketsAtMost(b.pid, baseSockets, 30_000)
    rounds++
    const now = await settledRss(b.pid, previous)
    if (rounds === 1) rssAfterFirstWarmup = now
    else if (now - previous <= Math.max(64, previous / 100)) break
    previous = now
  }

  const heapBefore = await memoryOf(b)
  const before = await settledRss(b.pid, 0)
  const idle = new IdleConnections(host, port, 'idle')
  try {
    const t0 = Date.now()
    await idle.open(o.connections, o.concurrency, o.timeoutMs)
    const connectMs = Date.now() - t0
    await idle.verify(60_000)
    const brokerSockets = socketCount(b.pid)
    if (brokerSockets < o.connections) throw new Error(`the broker process holds ${brokerSockets} sockets with ${o.connections} connections open`)
    const heapAfter = await memoryOf(b)
    const after = await settledRss(b.pid, before)
    const grown = after - before
    if (grown <= 0) throw new Error(`the broker's RSS did not grow with ${o.connections} connections open (${before} KiB before, ${after} KiB after): no figure`)
    const per = (kib: number): number => Math.round((kib / o.connections) * 100) / 100
    const heap = heapBefore === undefined || heapAfter === undefined ? undefined : per((heapAfter.heapUsed - heapBefore.heapUsed) / 1024)
    return {
      connections: o.connections,
      warmupRounds: rounds,
      rssAfterFirstWarmupKiB: rssAfterFirstWarmup,
      brokerSockets,
      connectMs,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      rssPerConnectionKiB: per(grown),
      heapPerConnectionKiB: heap,
      otherPerConnectionKiB: heap === undefined ? undefined : Math.round((per(grown) - heap) * 100) / 100
    }
  } finally {
    await idle.close()
  }
}
