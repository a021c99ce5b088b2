/**
 * One benchmark case, run in its own process so its RSS is its own. Prints one JSON line on stdout.
 * Usage: node --import tsx bench/fleet-case.ts '<json case>'   (bench/fleet.ts runs the cases)
 */
import { createBroker, type EmbeddedBroker } from '../broker/index.ts'
import { Fleet, planFleet } from '../devices/fleet.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { createMqttClient, endClient, waitConnected } from '../core/mqtt-connect.ts'
import { createTopics } from '../core/topics.ts'
import { Aedes } from 'aedes'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { MqttClient } from 'mqtt'

export interface BenchCase {
  name: string
  /** homefleet: HomeFleet devices; bare: plain MQTT.js clients doing the same connect/subscribe/retain, no simulation. */
  clients: 'homefleet' | 'bare'
  /** embedded: our broker; aedes: plain aedes with its default persistence; url: an external broker. */
  broker: 'embedded' | 'aedes' | 'url'
  transport: 'inproc' | 'tcp'
  devices: number
  url?: string
  /** Telemetry period per device during the measurement window, ms. */
  telemetryMs: number
  /** Measurement window after all are online, ms. */
  windowMs: number
  connectRate: number
}

const c = JSON.parse(process.argv[2] ?? '{}') as BenchCase
const rss = (): number => Math.round(process.memoryUsage().rss / 1048576)
const rssBefore = rss()

let embedded: EmbeddedBroker | undefined
let plain: { aedes: Aedes; close: () => Promise<void>; url: string } | undefined
let target: BrokerTarget
let published = (): number => 0

if (c.broker === 'embedded') {
  embedded = await createBroker({ port: 0, tcp: c.transport === 'tcp' })
  const b = embedded
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

let onlineMs: number
let sent: () => number
let stop: () => Promise<void>
const t0 = performance.now()
if (c.clients === 'homefleet') {
  const fleet = new Fleet(specs, { target, seed: 1, connectRate: c.connectRate, connectConcurrency: 500, connectTimeoutMs: 120_000, publishLogLevel: 'silent' })
  onlineMs = (await fleet.start()).ms
  sent = () => fleet.counters().messagesOut
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
const rssOnline = rss()
// Let the broker catch up with what the devices published while connecting (status, info, reported), so the window
// measures steady telemetry only. Bounded: at most 30 s.
if (c.broker !== 'url') {
  const target0 = sent()
  const until = performance.now() + 30_000
  while (published() < target0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
}
const sent0 = sent()
const pub0 = published()
const w0 = performance.now()
const cpu0 = process.cpuUsage()
await new Promise((resolve) => setTimeout(resolve, c.windowMs))
const cpuWindow = process.cpuUsage(cpu0)
const windowS = (performance.now() - w0) / 1000
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
  rssMbBefore: rssBefore,
  rssMbOnline: rssOnline,
  rssMbPeak: Math.round(process.resourceUsage().maxRSS / 1024)
}
await stop()
await embedded?.close()
await plain?.close()
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)
