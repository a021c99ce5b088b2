/**
 * One benchmark case, run in its own process so its RSS is its own. Prints one JSON line on stdout.
 * Usage: node --import tsx bench/fleet-case.ts '<json case>'   (bench/fleet.ts runs the cases)
 */
import { createBroker, type EmbeddedBroker } from '../broker/index.ts'
import { createThreadBroker, type ThreadBroker } from '../broker/thread.ts'
import { Fleet, planFleet } from '../devices/fleet.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { createMqttClient, endClient, waitConnected } from '../core/mqtt-connect.ts'
import { createTopics } from '../core/topics.ts'
import { OBSERVER_QUEUE_BYTES } from '../scenarios/runner.ts'
import { Aedes } from 'aedes'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { MqttClient } from 'mqtt'
import { readFileSync } from 'node:fs'

export interface BenchCase {
  name: string
  /** homefleet: HomeFleet devices; bare: plain MQTT.js clients doing the same connect/subscribe/retain, no simulation. */
  clients: 'homefleet' | 'bare'
  /**
   * embedded: our broker in this thread; thread: our broker in a thread of its own (as `fleet run` uses for big
   * fleets); aedes: plain aedes with its default persistence; url: an external broker.
   */
  broker: 'embedded' | 'thread' | 'aedes' | 'url'
  transport: 'inproc' | 'tcp'
  devices: number
  url?: string
  /** Telemetry period per device during the measurement window, ms. */
  telemetryMs: number
  /** Measurement window after all are online, ms. */
  windowMs: number
  connectRate: number
  /** Connections in progress at once (default 500). */
  connectConcurrency?: number
  /**
   * Check telemetry delivery: an observer subscribed to every device's telemetry counts, per device, the `seq` gaps
   * and duplicates it sees during the window; every device must report at least once. The window should span at
   * least one telemetry period.
   */
  observe?: boolean
  /** Sample how many devices are online every second while connecting (the connect ramp). */
  ramp?: boolean
  /** Stop the fleet gracefully after the window and time it, at most this long (default: stop without timing). */
  stopTimeoutMs?: number
  /**
   * Give up connecting after this long (default: no limit): the case then reports how far it got (`onlineMs` null,
   * the ramp, RSS) instead of being killed with nothing to show.
   */
  connectDeadlineMs?: number
  /** The embedded broker runs in another process (`url`): its PID, to read its RSS. */
  brokerPid?: number
}

const c = JSON.parse(process.argv[2] ?? '{}') as BenchCase
const rss = (): number => Math.round(process.memoryUsage().rss / 1048576)
const rssBefore = rss()

let embedded: EmbeddedBroker | undefined
let threaded: ThreadBroker | undefined
let plain: { aedes: Aedes; close: () => Promise<void>; url: string } | undefined
let target: BrokerTarget
let published = (): number => 0

// The observer gets the queue `fleet run` gives its own observer in the embedded broker.
const OBSERVER_ID = 'bench-observer'
const observerQueue = { subscriberQueueBytesById: { [OBSERVER_ID]: OBSERVER_QUEUE_BYTES } }
if (c.broker === 'embedded') {
  embedded = await createBroker({ port: 0, tcp: c.transport === 'tcp', ...observerQueue })
  const b = embedded
  target = c.transport === 'inproc' ? { stream: () => b.connectInProcess() } : { url: b.url as string }
  published = () => b.stats().publishedIn
} else if (c.broker === 'thread') {
  const b = await createThreadBroker({ port: 0, tcp: c.transport === 'tcp', ...observerQueue })
  threaded = b
  target = c.transport === 'inproc' ? { stream: () => b.connectInProcess() } : { url: b.url as string }
  published = () => b.stats().publishedIn
} else if (c.broker === 'aedes') {
  const aedes = await Aedes.createBroker({ maxClientsIdLength: 128, concurrency: 1000 })
  let count = 0
  aedes.on('publish', (_p, client) => { if (client !== null) count++ })
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  plain = { aedes, url, close: async () => { await new Promise<void>((r) => { aedes.close(() => { r() }) }); await new Promise<void>((r) => { server.close(() => { r() }) }) } }
  target = { url }
  published = () => count
} else {
  target = { url: c.url as string }
}

const specs = planFleet({
  demoHome: false,
  groups: [
    { kind: 'speaker', count: Math.round(c.devices * 0.3), telemetryIntervalMs: c.telemetryMs },
    { kind: 'band', count: Math.round(c.devices * 0.5), telemetryIntervalMs: c.telemetryMs },
    { kind: 'camera', count: c.devices - Math.round(c.devices * 0.3) - Math.round(c.devices * 0.5), telemetryIntervalMs: c.telemetryMs }
  ]
})

/**
 * Telemetry delivery, per device: the observer is one more MQTT client on the same broker, subscribed at QoS 0 to
 * every device's telemetry (as `fleet run`'s observer is). While `counting`, each message's `seq` (read from the
 * payload bytes) is compared with the last one seen from that device: a jump is a gap, a repeat or step back a
 * duplicate. The first message of each device in the window only sets its starting point.
 */
class TelemetryCheck {
  counting = false
  readonly last = new Map<string, number>()
  messages = 0
  gaps = 0
  missing = 0
  duplicates = 0
  malformed = 0
  private readonly prefix: string
  private client: MqttClient | undefined

  constructor (prefix: string) { this.prefix = `${prefix}/` }

  async connect (): Promise<void> {
    const client = createMqttClient(target, { clientId: OBSERVER_ID, reconnectPeriod: 0 })
    this.client = client
    await waitConnected(client, target, 30_000)
    client.on('message', (topic, payload) => { this.onMessage(topic, payload) })
    await client.subscribeAsync(`${this.prefix}+/telemetry`, { qos: 0 })
  }

  private onMessage (topic: string, payload: Buffer): void {
    if (!this.counting) return
    this.messages++
    const id = topic.slice(this.prefix.length, topic.length - '/telemetry'.length)
    const at = payload.indexOf('"seq":')
    const seq = at < 0 ? NaN : parseInt(payload.toString('latin1', at + 6, at + 24), 10)
    if (!Number.isInteger(seq)) { this.malformed++; return }
    const prev = this.last.get(id)
    if (prev !== undefined) {
      if (seq <= prev) { this.duplicates++; return }
      if (seq > prev + 1) { this.gaps++; this.missing += seq - prev - 1 }
    }
    this.last.set(id, seq)
  }

  async close (): Promise<void> { if (this.client !== undefined) await endClient(this.client, true) }
}

let onlineMs: number
let sent: () => number
let stop: () => Promise<void>
let dropped = (): number => 0
let counters: (() => Record<string, number>) | undefined
const ramp: Array<{ s: number; online: number }> = []
let onlineNow = 0
let rampTimer: NodeJS.Timeout | undefined
const t0 = performance.now()
if (c.ramp === true) {
  let next = 1
  rampTimer = setInterval(() => {
    // A busy event loop fires this late: record the second actually reached, not the one intended.
    const s = Math.floor((performance.now() - t0) / 1000)
    if (s >= next) {
      ramp.push({ s, online: onlineNow })
      next = s + 1
      // A line every 10 s on stderr, so a long run shows where it is.
      if (s % 10 === 0) process.stderr.write(`[${c.name}] ${s} s: ${onlineNow} online, RSS ${rss()} MB, heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MB\n`)
    }
  }, 250)
}
/**
 * Devices online at 10, 20, … s: the first sample at or after each mark (a busy event loop samples late, so the
 * mark's sample may be a second or two after it: `sampledAt` says when).
 */
function rampMarks (): Array<{ s: number; online: number; sampledAt: number }> {
  const out: Array<{ s: number; online: number; sampledAt: number }> = []
  for (let mark = 10; ramp.length > 0 && mark <= (ramp[ramp.length - 1] as { s: number }).s; mark += 10) {
    const r = ramp.find((x) => x.s >= mark)
    if (r !== undefined) out.push({ s: mark, online: r.online, sampledAt: r.s })
  }
  return out
}
/** The partial result of a case that did not get its fleet online before its deadline; the process then exits. */
function gaveUp (): never {
  clearInterval(rampTimer)
  process.stdout.write(JSON.stringify({
    case: c.name,
    devices: specs.length,
    onlineMs: null,
    gaveUpAfterMs: c.connectDeadlineMs,
    onlineAtDeadline: onlineNow,
    rssMbPeak: Math.round(process.resourceUsage().maxRSS / 1024),
    ramp: rampMarks(),
    rampSamples: ramp.map((r) => [r.s, r.online])
  }) + '\n')
  process.exit(0)
}
if (c.clients === 'homefleet') {
  const fleet = new Fleet(specs, { target, seed: 1, connectRate: c.connectRate, connectConcurrency: c.connectConcurrency ?? 500, connectTimeoutMs: 120_000, publishLogLevel: 'silent' })
  const started = fleet.start({ onProgress: (online) => { onlineNow = online } })
  if (c.connectDeadlineMs !== undefined) {
    const deadline = setTimeout(gaveUp, c.connectDeadlineMs)
    started.finally(() => { clearTimeout(deadline) }).catch(() => undefined)
  }
  onlineMs = (await started).ms
  sent = () => fleet.counters().messagesOut
  dropped = () => fleet.counters().telemetryDropped
  counters = () => fleet.counters()
  stop = () => fleet.stop()
} else {
  // The baseline: what any MQTT.js client fleet pays for the same session shape (a will, three retained
  // announcements, two filters, periodic JSON telemetry), without HomeFleet's device runtime.
  const clients: MqttClient[] = []
  const topics = createTopics()
  let out = 0
  const timers: NodeJS.Timeout[] = []
  const conc = 500
  let next = 0
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < specs.length) {
      const spec = specs[next++]!
      const cl = createMqttClient(target, { clientId: spec.id, reconnectPeriod: 0, will: { topic: topics.status(spec.id), payload: Buffer.from('offline'), qos: 1, retain: true } })
      await waitConnected(cl, target, 120_000)
      // The same protocol work as a HomeFleet device: three retained announcements, two filters in one SUBSCRIBE.
      cl.publish(topics.status(spec.id), 'online', { qos: 1, retain: true })
      cl.publish(topics.info(spec.id), JSON.stringify(spec), { qos: 1, retain: true })
      cl.publish(topics.reported(spec.id), JSON.stringify({ power: true, ts: Date.now() }), { qos: 1, retain: true })
      await cl.subscribeAsync([topics.filter('command', spec.id), topics.desired(spec.id)], { qos: 1 })
      clients.push(cl)
      let seq = 0
      timers.push(setInterval(() => { out++; cl.publish(topics.telemetry(spec.id), JSON.stringify({ ts: Date.now(), seq: ++seq, v: Math.random() })) }, c.telemetryMs))
    }
  }))
  onlineMs = performance.now() - t0
  sent = () => out
  stop = async () => { for (const t of timers) clearInterval(t); await Promise.all(clients.map((cl) => endClient(cl))) }
}
clearInterval(rampTimer)
const rssOnline = rss()
const check = c.observe === true ? new TelemetryCheck('home') : undefined
await check?.connect()
// Let the broker catch up with what the devices published while connecting (status, info, reported), so the window
// measures steady telemetry only. Bounded: at most 30 s.
if (c.broker !== 'url') {
  const target0 = sent()
  const until = performance.now() + 30_000
  while (published() < target0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
}
const sent0 = sent()
const pub0 = published()
const dropped0 = dropped()
const w0 = performance.now()
const cpu0 = process.cpuUsage()
const main0 = mainThreadCpuMs()
if (check !== undefined) check.counting = true
await new Promise((resolve) => setTimeout(resolve, c.windowMs))
if (check !== undefined) check.counting = false
const cpuWindow = process.cpuUsage(cpu0)
const mainWindowMs = main0 === undefined ? undefined : (mainThreadCpuMs() ?? main0) - main0
const windowS = (performance.now() - w0) / 1000
const brokerRssMb = c.brokerPid === undefined ? undefined : Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.brokerPid}/status`, 'utf8'))?.[1] ?? 0) / 1024)
const rssPeakMb = Math.round(process.resourceUsage().maxRSS / 1024)
const result = {
  case: c.name,
  clients: c.clients,
  broker: c.broker,
  transport: c.transport,
  devices: specs.length,
  onlineMs: Math.round(onlineMs),
  connectsPerSec: Math.round(specs.length / (onlineMs / 1000)),
  msgsPerSecSent: Math.round((sent() - sent0) / windowS),
  msgsPerSecBroker: c.broker === 'url' ? null : Math.round((published() - pub0) / windowS),
  expectedMsgsPerSec: Math.round(specs.length * 1000 / c.telemetryMs),
  // CPU of this process (devices, and the broker when embedded) during the window, % of one core.
  cpuPctWindow: Math.round((cpuWindow.user + cpuWindow.system) / 1000 / (windowS * 1000) * 100),
  // The same for the main thread alone (the devices and the observer; with `broker: thread` the broker is not in it).
  ...(mainWindowMs === undefined ? {} : { cpuPctMainWindow: Math.round(mainWindowMs / (windowS * 1000) * 100) }),
  rssMbBefore: rssBefore,
  rssMbOnline: rssOnline,
  rssMbPeak: rssPeakMb,
  // What one device costs: the process's RSS growth from before the fleet to its peak, per device (the broker's side of
  // each connection included when it runs in this process; the observer too).
  rssKbPerDevice: Math.round((rssPeakMb - rssBefore) * 1024 / specs.length * 10) / 10,
  ...(brokerRssMb === undefined ? {} : { brokerRssMb, brokerRssKbPerDevice: Math.round(brokerRssMb * 1024 / specs.length * 10) / 10 }),
  heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
  // The broker's delivery counters (embedded or thread): messages it dropped to a lagging subscriber (the observer)
  // are the broker's slow-subscriber policy at work, not devices losing telemetry.
  ...(embedded === undefined && threaded === undefined ? {} : { brokerDelivery: (embedded ?? threaded)?.stats().delivery }),
  ...(c.ramp === true ? { ramp: rampMarks(), rampSamples: ramp.map((r) => [r.s, r.online]) } : {}),
  ...(counters === undefined ? {} : { telemetryDroppedWindow: dropped() - dropped0, reconnects: counters().reconnects }),
  ...(check === undefined
    ? {}
    : {
        telemetry: {
          messages: check.messages,
          devicesReporting: check.last.size,
          allReported: check.last.size === specs.length,
          gaps: check.gaps,
          missing: check.missing,
          duplicates: check.duplicates,
          malformed: check.malformed,
          ok: check.last.size === specs.length && check.gaps === 0 && check.duplicates === 0 && check.malformed === 0
        }
      })
}
await check?.close()
if (c.stopTimeoutMs !== undefined) {
  const s0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  const finished = await Promise.race([stop().then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(false) }, c.stopTimeoutMs) })])
  clearTimeout(timer)
  Object.assign(result, { stopMs: finished ? Math.round(performance.now() - s0) : null })
  if (!finished) { process.stdout.write(JSON.stringify(result) + '\n'); process.exit(0) }
} else {
  await stop()
}
await embedded?.close()
await threaded?.close()
await plain?.close()
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)

/**
 * CPU time of this process's main thread so far, ms (user + system, from /proc: Linux only, 10 ms resolution), or
 * undefined where /proc is not there. `process.cpuUsage()` counts every thread, the broker's too.
 */
function mainThreadCpuMs (): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime, stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}
