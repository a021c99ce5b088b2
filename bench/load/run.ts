/**
 * `runBench()`: the programmatic API behind `fleet bench`. Plans a run (clients split across worker threads),
 * starts the embedded broker when no broker URL is given, aggregates the workers' reports once a second, and returns a
 * report with latency percentiles from an HDR-style histogram, loss, duplicates, reordering and errors by reason,
 * with the `--fail-if` thresholds evaluated.
 */
import { connect as netConnect } from 'node:net'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { createBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { FleetError } from '../../core/errors.ts'
import { LatencyHistogram } from './histogram.ts'
import type { BenchMode, WorkerMessage, WorkerPlan, WorkerTotals } from './protocol.ts'
import { runWorker } from './worker.ts'

export type { BenchMode } from './protocol.ts'

export interface BenchOptions {
  mode: BenchMode
  /** `mqtt://host:port`; undefined starts the embedded broker for the run (on 127.0.0.1, a free port). */
  broker: string | undefined
  /** Clients: connections (conn), publishers (pub, pubsub) or subscribers (sub). */
  clients: number
  /** Subscribers in pubsub mode. */
  subscribers: number
  /** Connects per second over the whole run (0: as fast as possible). */
  connectRate: number
  /**
   * Connects in progress at once over the whole run (0: no bound). A bound keeps a storm within the broker's listen
   * backlog, so the connect rate measures the broker rather than the kernel's SYN retransmission timer.
   */
  connectConcurrency: number
  /** Messages per second over all publishers (0: as fast as the sockets take them, or `interval`). */
  rate: number
  /** Each publisher publishes once per this many ms (emqtt-bench -I); 0 for none. Not with `rate`. */
  interval: number
  topic: string
  /** The subscribers' filter; default: the topic with each placeholder level made `+`. */
  subTopic: string | undefined
  qos: 0 | 1
  size: number
  /** Most messages sent over the whole run (0: no limit). */
  limit: number
  durationMs: number
  warmupMs: number
  clientIdPrefix: string
  startIndex: number
  username: string | undefined
  password: string | undefined
  workers: number
  maxOutstanding: number
  inflight: number
  drainMs: number
  failIf: string | undefined
}

/** {@link BenchOptions} as given: any of them, `undefined` meaning the default. */
export type BenchInput = { [K in keyof BenchOptions]?: BenchOptions[K] | undefined }

export const defaultBenchOptions: Readonly<BenchOptions> = Object.freeze({
  mode: 'pub',
  broker: undefined,
  clients: 10,
  subscribers: 1,
  connectRate: 2000,
  connectConcurrency: 0,
  rate: 0,
  interval: 0,
  topic: 'bench/%i',
  subTopic: undefined,
  qos: 0,
  size: 64,
  limit: 0,
  durationMs: 10_000,
  warmupMs: 0,
  clientIdPrefix: 'fleet-bench',
  startIndex: 0,
  username: undefined,
  password: undefined,
  workers: Math.min(2, availableParallelism()),
  maxOutstanding: 0,
  inflight: 64,
  drainMs: 2000,
  failIf: undefined
})

export interface LatencySummary { count: number; p50: number; p90: number; p99: number; p999: number; max: number }

export interface Threshold { metric: string; op: '>' | '<' | '>=' | '<='; value: number; text: string }
export interface ThresholdResult { threshold: string; actual: number; failed: boolean }

export interface BenchTick {
  elapsedMs: number
  connected: number
  sentPerSecond: number
  receivedPerSecond: number
  p50Ms: number
  p99Ms: number
  errors: number
}

export interface BenchReport {
  mode: BenchMode
  broker: string
  embedded: boolean
  clients: number
  subscribers: number
  workers: number
  /** Length of the measured window (after warm-up), ms. */
  measuredMs: number
  connected: number
  connectFailures: number
  /** Connections per second while connecting, and CONNECT→CONNACK latency in ms. */
  connectRate: number
  connectLatencyMs: LatencySummary
  sent: number
  received: number
  /** Sent, and received, within the measured window ÷ its length (a backlog drained after it does not count). */
  sentPerSecond: number
  receivedPerSecond: number
  /** Messages that should have arrived and did not (pubsub only; every subscriber matches every publisher). */
  lost: number
  lossRatio: number
  duplicates: number
  reordered: number
  latencyMs: LatencySummary
  errors: Record<string, number>
  thresholds: ThresholdResult[]
  passed: boolean
}

/** Threshold metrics and how to read a report for them. */
const METRICS: Record<string, { unit: 'ms' | 'count' | 'ratio' | 'rate'; read: (r: BenchReport) => number }> = {
  p50: { unit: 'ms', read: (r) => r.latencyMs.p50 },
  p90: { unit: 'ms', read: (r) => r.latencyMs.p90 },
  p99: { unit: 'ms', read: (r) => r.latencyMs.p99 },
  'p99.9': { unit: 'ms', read: (r) => r.latencyMs.p999 },
  max: { unit: 'ms', read: (r) => r.latencyMs.max },
  loss: { unit: 'count', read: (r) => r.lost },
  'loss%': { unit: 'ratio', read: (r) => r.lossRatio * 100 },
  duplicates: { unit: 'count', read: (r) => r.duplicates },
  reordered: { unit: 'count', read: (r) => r.reordered },
  errors: { unit: 'count', read: (r) => Object.values(r.errors).reduce((a, b) => a + b, 0) },
  sent: { unit: 'count', read: (r) => r.sent },
  received: { unit: 'count', read: (r) => r.received },
  rate: { unit: 'rate', read: (r) => r.receivedPerSecond },
  'sent-rate': { unit: 'rate', read: (r) => r.sentPerSecond },
  connected: { unit: 'count', read: (r) => r.connected },
  'conn-rate': { unit: 'rate', read: (r) => r.connectRate }
}

/**
 * Parse `--fail-if` text: comma-separated `metric op value`, e.g. `p99>50ms,loss>0,rate<1000`. Latency values take
 * `us`, `ms` (default) or `s`. Throws FLEET_ERR_USAGE naming the part it could not read.
 */
export function parseThresholds (text: string): Threshold[] {
  const out: Threshold[] = []
  for (const raw of text.split(',')) {
    const part = raw.trim()
    if (part === '') continue
    const m = /^([a-z0-9.%-]+)\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|%)?$/i.exec(part)
    const metric = m?.[1]?.toLowerCase()
    const spec = metric === undefined ? undefined : METRICS[metric]
    if (m === null || metric === undefined || spec === undefined) {
      throw new FleetError('FLEET_ERR_USAGE', `--fail-if: cannot read "${part}": expected metric>value with a metric of ${Object.keys(METRICS).join(', ')} (e.g. p99>50ms,loss>0)`)
    }
    const unit = m[4]?.toLowerCase()
    let value = Number(m[3])
    if (spec.unit === 'ms') {
      if (unit === 'us') value /= 1000
      else if (unit === 's') value *= 1000
      else if (unit === '%') throw new FleetError('FLEET_ERR_USAGE', `--fail-if: "${part}": ${metric} is a latency (us, ms or s), not a percentage`)
    } else if (unit !== undefined && !(unit === '%' && spec.unit === 'ratio')) {
      throw new FleetError('FLEET_ERR_USAGE', `--fail-if: "${part}": ${metric} takes a plain number${spec.unit === 'ratio' ? ' or %' : ''}, not ${unit}`)
    }
    out.push({ metric, op: m[2] as Threshold['op'], value, text: part })
  }
  if (out.length === 0) throw new FleetError('FLEET_ERR_USAGE', '--fail-if: no threshold given (e.g. p99>50ms,loss>0)')
  return out
}

function evaluate (report: BenchReport, thresholds: Threshold[]): ThresholdResult[] {
  return thresholds.map((t) => {
    const actual = (METRICS[t.metric] as (typeof METRICS)[string]).read(report)
    const failed = t.op === '>' ? actual > t.value : t.op === '<' ? actual < t.value : t.op === '>=' ? actual >= t.value : actual <= t.value
    return { threshold: t.text, actual, failed }
  })
}

/** The subscribers' default filter: each level with a placeholder becomes `+`. */
export function defaultSubTopic (topic: string): string {
  return topic.split('/').map((level) => /%[ic]/.test(level) ? '+' : level).join('/')
}

function validate (given: BenchInput): BenchOptions {
  const o: BenchOptions = { ...defaultBenchOptions }
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v
  const problems: string[] = []
  if (!['conn', 'pub', 'sub', 'pubsub'].includes(o.mode)) problems.push(`mode must be conn, pub, sub or pubsub, got ${String(o.mode)}`)
  if (o.size < 16) problems.push(`size must be at least 16 bytes (sequence number, publisher and timestamp), got ${o.size}`)
  if (o.maxOutstanding > 0 && (o.mode !== 'pubsub' || o.workers !== 1)) problems.push('--max-outstanding (a closed loop) needs pubsub mode and --workers 1')
  if (o.interval > 0 && o.rate > 0) problems.push('give an interval per publisher or a total rate, not both')
  if (o.interval > 0 && o.maxOutstanding > 0) problems.push('--max-outstanding (a closed loop) does not go with an interval per publisher')
  if (o.topic.includes('#') || o.topic.includes('+')) problems.push(`topic must be a topic name, without + or #: ${o.topic}`)
  if (problems.length > 0) throw new FleetError('FLEET_ERR_USAGE', `fleet bench: ${problems.join('; ')}`)
  return o
}

function summarize (h: LatencyHistogram): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000
  return { count: h.count, p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.count === 0 ? 0 : h.max) }
}

/** Resolve once a TCP connection to host:port opens; FLEET_ERR_BROKER_UNREACHABLE (exit 3) otherwise. */
function probe (host: string, port: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port })
    const timer = setTimeout(() => { s.destroy(); reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot reach ${url}: no answer within 5 s`)) }, 5000)
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve() })
    s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot reach ${url}: ${err.code ?? err.message}`, { cause: err })) })
  })
}

function split (total: number, parts: number, k: number): [number, number] {
  const base = Math.floor(total / parts)
  const extra = total % parts
  const start = k * base + Math.min(k, extra)
  return [start, start + base + (k < extra ? 1 : 0)]
}

/**
 * Run a load test. `onTick` is called once a second with the live figures. Resolves with the report; rejects with
 * FLEET_ERR_USAGE (bad options or thresholds, exit 2) or FLEET_ERR_BROKER_UNREACHABLE (exit 3).
 */
export async function runBench (given: BenchInput, hooks: { onTick?: ((t: BenchTick) => void) | undefined; signal?: AbortSignal | undefined; inThread?: boolean | undefined } = {}): Promise<BenchReport> {
  const o = validate(given)
  const thresholds = o.failIf === undefined ? [] : parseThresholds(o.failIf)
  let embedded: EmbeddedBroker | undefined
  let host = '127.0.0.1'
  let port: number
  let url: string
  if (o.broker === undefined) {
    embedded = await createBroker({ port: 0, host: '127.0.0.1' })
    port = embedded.port as number
    url = embedded.url as string
  } else {
    const parsed = new URL(o.broker)
    if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'tcp:') throw new FleetError('FLEET_ERR_USAGE', `fleet bench: --broker must be an mqtt:// URL, got ${o.broker}`)
    host = parsed.hostname.replace(/^\[|\]$/g, '')
    port = parsed.port === '' ? 1883 : Number(parsed.port)
    url = o.broker
    await probe(host, port, url)
  }

  try {
    const workers = Math.max(1, Math.min(o.workers, o.clients + (o.mode === 'pubsub' ? o.subscribers : 0)))
    const started = Date.now()
    const publishersTotal = o.mode === 'sub' ? 0 : o.clients
    const subscribersTotal = o.mode === 'sub' ? o.clients : o.mode === 'pubsub' ? o.subscribers : 0
    const connectEveryMs = o.connectRate > 0 ? workers * 1000 / o.connectRate : 0
    // sub mode subscribes to -t itself (placeholders expanded per client); pubsub to a filter matching every publisher.
    const subTopic = o.subTopic ?? (o.mode === 'sub' ? o.topic : defaultSubTopic(o.topic))
    const plans: WorkerPlan[] = []
    for (let k = 0; k < workers; k++) {
      const [pubStart, pubEnd] = split(publishersTotal, workers, k)
      // Subscribers are numbered after the publishers, so their ids do not collide.
      const [s0, s1] = split(subscribersTotal, workers, k)
      const subOffset = o.mode === 'sub' ? 0 : publishersTotal
      // --limit is shared in proportion to each worker's publishers.
      const l0 = publishersTotal === 0 ? 0 : Math.floor(o.limit * pubStart / publishersTotal)
      const l1 = publishersTotal === 0 ? 0 : Math.floor(o.limit * pubEnd / publishersTotal)
      plans.push({
        worker: k, mode: o.mode, host, port, pubStart, pubEnd, subStart: s0 + subOffset, subEnd: s1 + subOffset,
        clientIdPrefix: o.clientIdPrefix, startIndex: o.startIndex, topic: o.topic, subTopic, qos: o.qos, size: o.size,
        connectEveryMs, maxConnecting: o.connectConcurrency === 0 ? 0 : Math.max(1, Math.floor(o.connectConcurrency / workers)), rate: o.rate / workers, intervalMs: o.interval, publishersTotal, limit: o.limit === 0 ? 0 : l1 - l0, maxOutstanding: o.maxOutstanding,
        inflight: o.inflight, username: o.username, password: o.password, warmupMs: o.warmupMs, durationMs: o.durationMs, drainMs: o.drainMs
      })
    }

    const latest: Array<WorkerTotals | undefined> = plans.map(() => undefined)
    let previousSent = 0
    let previousReceived = 0
    let previousAt = started
    const tickTimer = setInterval(() => {
      const totals = latest.filter((t): t is WorkerTotals => t !== undefined)
      const sent = totals.reduce((a, t) => a + t.sentTotal, 0)
      const received = totals.reduce((a, t) => a + t.receivedTotal, 0)
      const h = new LatencyHistogram()
      for (const t of totals) h.add(t.latency)
      const at = Date.now()
      const secs = Math.max(0.001, (at - previousAt) / 1000)
      hooks.onTick?.({
        elapsedMs: at - started,
        connected: totals.reduce((a, t) => a + t.connected, 0),
        sentPerSecond: Math.round((sent - previousSent) / secs),
        receivedPerSecond: Math.round((received - previousReceived) / secs),
        p50Ms: h.percentile(50) / 1000,
        p99Ms: h.percentile(99) / 1000,
        errors: totals.reduce((a, t) => a + Object.values(t.errors).reduce((x, y) => x + y, 0), 0)
      })
      previousSent = sent
      previousReceived = received
      previousAt = at
    }, 1000)

    // When every worker that publishes is done (its share of --limit sent), the others stop waiting for messages.
    const publishing = new Set(plans.filter((p) => p.mode !== 'conn' && p.pubEnd > p.pubStart).map((p) => p.worker))
    const stoppers: Array<() => void> = []
    let notReady = plans.length
    let go: () => void = () => undefined
    const allReady = new Promise<void>((resolve) => { go = resolve })
    const coordinator: Coordinator = {
      allReady,
      ready: () => { if (--notReady === 0) go() },
      register: (stop) => { stoppers.push(stop) },
      sendingDone: (k) => { publishing.delete(k); if (publishing.size === 0) for (const stop of stoppers) stop() }
    }
    const finals = await Promise.all(plans.map((plan, k) => runOne(plan, hooks.inThread === true, (t) => { latest[k] = t }, coordinator, hooks.signal)))
    clearInterval(tickTimer)

    const latency = new LatencyHistogram()
    const connectLatency = new LatencyHistogram()
    const errors: Record<string, number> = {}
    let sent = 0; let sentTotal = 0; let received = 0; let receivedTotal = 0; let duplicates = 0; let reordered = 0; let connected = 0; let connectFailures = 0
    for (const t of finals) {
      latency.add(t.latency)
      connectLatency.add(t.connectLatency)
      sent += t.sent; sentTotal += t.sentTotal; received += t.received; receivedTotal += t.receivedTotal
      duplicates += t.duplicates; reordered += t.reordered; connected += t.connected; connectFailures += t.connectFailures
      for (const [k, v] of Object.entries(t.errors)) errors[k] = (errors[k] ?? 0) + v
    }
    // Rates are over each worker's measured window (from the end of the warm-up until sending stopped, shorter than
    // --duration when --limit ends it): messages still arriving after it (a backlog draining) count for loss and
    // latency, not for the rate.
    const measuredMs = Math.max(0, ...finals.map((t) => t.windowMs)) || o.durationMs
    const perSecond = (pick: (t: WorkerTotals) => number): number =>
      Math.round(finals.reduce((a, t) => a + pick(t) / (Math.max(1, t.windowMs || o.durationMs) / 1000), 0))
    const expected = o.mode === 'pubsub' ? sentTotal * subscribersTotal : 0
    const lost = o.mode === 'pubsub' ? Math.max(0, expected - (receivedTotal - duplicates)) : 0
    const firstConnect = Math.min(...finals.map((t) => t.firstConnectAt).filter((t) => t > 0))
    const lastConnack = Math.max(0, ...finals.map((t) => t.lastConnackAt))
    const connectSpanMs = Math.max(1, lastConnack - firstConnect)
    const report: BenchReport = {
      mode: o.mode,
      broker: url,
      embedded: embedded !== undefined,
      clients: o.clients,
      subscribers: subscribersTotal,
      workers,
      measuredMs,
      connected,
      connectFailures,
      connectRate: connectLatency.count === 0 ? 0 : Math.round(connectLatency.count / (connectSpanMs / 1000)),
      connectLatencyMs: summarize(connectLatency),
      sent,
      received,
      sentPerSecond: perSecond((t) => t.sent),
      receivedPerSecond: perSecond((t) => t.receivedInWindow),
      lost,
      lossRatio: expected === 0 ? 0 : lost / expected,
      duplicates,
      reordered,
      latencyMs: summarize(latency),
      errors,
      thresholds: [],
      passed: true
    }
    report.thresholds = evaluate(report, thresholds)
    report.passed = report.thresholds.every((t) => !t.failed)
    return report
  } finally {
    if (embedded !== undefined) await embedded.close()
  }
}

/** Run one worker's plan in a worker thread (or in this thread) and resolve with its final totals. */
interface Coordinator { allReady: Promise<void>; ready: () => void; register: (stop: () => void) => void; sendingDone: (worker: number) => void }

function runOne (plan: WorkerPlan, inThread: boolean, onTotals: (t: WorkerTotals) => void, coordinator: Coordinator, signal: AbortSignal | undefined): Promise<WorkerTotals> {
  if (inThread) {
    return new Promise((resolve, reject) => {
      runWorker(plan, (m) => {
        onTotals(m.totals)
        if (m.type === 'ready') coordinator.ready()
        if (m.type === 'sending-done') coordinator.sendingDone(plan.worker)
        if (m.type === 'done') resolve(m.totals)
      }, { onStopSending: (l) => { coordinator.register(l) }, go: () => coordinator.allReady }).catch(reject)
    })
  }
  return new Promise((resolve, reject) => {
    // Worker threads do not inherit the tsx loader registered in this thread; they load it themselves.
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { plan } })
    let done: WorkerTotals | undefined
    coordinator.register(() => { worker.postMessage({ type: 'stop-sending' }) })
    const abort = (): void => { void worker.terminate() }
    signal?.addEventListener('abort', abort, { once: true })
    worker.on('message', (m: WorkerMessage | { type: 'failed'; message: string }) => {
      if (m.type === 'failed') { reject(new FleetError('FLEET_ERR_INTERNAL', `load worker ${plan.worker} failed: ${m.message}`)); return }
      onTotals(m.totals)
      if (m.type === 'ready') { coordinator.ready(); void coordinator.allReady.then(() => { worker.postMessage({ type: 'go' }) }) }
      if (m.type === 'sending-done') coordinator.sendingDone(plan.worker)
      if (m.type === 'done') { done = m.totals; void worker.terminate() }
    })
    worker.once('error', (err) => { reject(err) })
    worker.once('exit', () => {
      signal?.removeEventListener('abort', abort)
      if (done !== undefined) resolve(done)
      else reject(new FleetError('FLEET_ERR_INTERNAL', `load worker ${plan.worker} ended without a report`))
    })
  })
}
