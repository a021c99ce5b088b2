/**
 * The device side's CPU per device and per telemetry message, as a fixed amount of work: the main thread's CPU
 * time (not wall time, which a shared machine stretches) to construct and connect N devices to the embedded broker
 * in a thread of its own (in-process transport, as `fleet run` uses for big fleets), then to send T rounds of
 * telemetry driven by a virtual clock (every device once per round, in 20 ms buckets as the scheduler fires them,
 * the event loop turned between buckets so the streams drain). Prints one JSON line.
 * Usage: node --import tsx bench/device-cost.ts [devices=20000] [rounds=10]
 */
import { readFileSync } from 'node:fs'
import { createThreadBroker } from '../broker/thread.ts'
import { VirtualClock } from '../core/clock.ts'
import { Fleet, planFleet } from '../devices/fleet.ts'

const devices = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 10)
const INTERVAL_MS = 1000
const BUCKET_MS = 20

/** CPU time of the main thread so far, ms (user + system, /proc, 10 ms resolution). */
function mainCpuMs (): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const broker = await createThreadBroker({ port: 0, tcp: false })
const specs = planFleet({
  demoHome: false,
  groups: [
    { kind: 'speaker', count: Math.round(devices * 0.3), telemetryIntervalMs: INTERVAL_MS },
    { kind: 'band', count: Math.round(devices * 0.5), telemetryIntervalMs: INTERVAL_MS },
    { kind: 'camera', count: devices - Math.round(devices * 0.3) - Math.round(devices * 0.5), telemetryIntervalMs: INTERVAL_MS }
  ]
})
const clock = new VirtualClock()
const c0 = mainCpuMs()
const fleet = new Fleet(specs, { target: { stream: () => broker.connectInProcess() }, clock, seed: 1, connectRate: 0, connectConcurrency: 1000, connectTimeoutMs: 120_000, publishLogLevel: 'silent' })
const c1 = mainCpuMs()
await fleet.start()
const c2 = mainCpuMs()
// Let what the connects published reach the broker before counting telemetry.
const until = performance.now() + 30_000
while (broker.stats().publishedIn < fleet.counters().messagesOut && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
const out0 = fleet.counters().messagesOut
const c3 = mainCpuMs()
for (let i = 0; i < rounds * INTERVAL_MS / BUCKET_MS; i++) {
  clock.advance(BUCKET_MS)
  await turn()
}
const c4 = mainCpuMs()
const counters = fleet.counters()
const messages = counters.messagesOut - out0
await fleet.stop()
await broker.close()
process.stdout.write(JSON.stringify({
  devices: specs.length,
  constructMs: c1 - c0,
  connectMs: c2 - c1,
  constructUsPerDevice: Math.round((c1 - c0) * 1000 / specs.length * 10) / 10,
  connectUsPerDevice: Math.round((c2 - c1) * 1000 / specs.length * 10) / 10,
  telemetryMessages: messages,
  telemetryDropped: counters.telemetryDropped,
  telemetryMs: c4 - c3,
  usPerMessage: Math.round((c4 - c3) * 1000 / messages * 10) / 10
}) + '\n')
