/**
 * `npm run bench:mqtt-log`: what MQTT.js's disabled `debug` logging costs a publishing client, which is what a
 * device does all day. One MQTT.js client on the embedded broker (TCP on 127.0.0.1) publishes QoS 0 telemetry-
 * sized messages, with MQTT.js's default logger (`debug`, not enabled) and with the no-op logger the device session
 * passes; rounds alternate, and the result is the median CPU microseconds per message of each (client and broker in
 * this one process) and their ratio. Bounded: a fixed number of messages per round.
 */
import { createBroker } from '../broker/index.ts'
import { createMqttClient, endClient, waitConnected } from '../core/mqtt-connect.ts'

const roundsArg = process.argv.indexOf('--rounds')
const rounds = roundsArg > 0 ? Math.max(1, Math.min(21, Number(process.argv[roundsArg + 1]) || 5)) : 5
const PER_ROUND = 100_000
const payload = JSON.stringify({ ts: Date.now(), seq: 123456, power: true, volume: 42, muted: false, playback: 'playing', track: 'Nina Simone — Feeling Good', rssi: -61 })

const broker = await createBroker({ port: 0 })
const target = { url: broker.url as string }
const noop = (): void => {}

async function round (log: 'debug' | 'noop'): Promise<number> {
  const client = createMqttClient(target, { clientId: `bench-${log}`, reconnectPeriod: 0, ...(log === 'noop' ? { log: noop } : {}) })
  await waitConnected(client, target, 10_000)
  const topic = 'home/bench/telemetry'
  const cpu0 = process.cpuUsage()
  let i = 0
  // Publish in slices, yielding to the event loop so the broker side keeps reading (the stream's backpressure).
  while (i < PER_ROUND) {
    for (let j = 0; j < 1000 && i < PER_ROUND; j++, i++) client.publish(topic, payload)
    await new Promise<void>((resolve) => { setImmediate(resolve) })
  }
  await new Promise<void>((resolve) => { client.publish(topic, payload, { qos: 1 }, () => { resolve() }) })
  const cpu = process.cpuUsage(cpu0)
  await endClient(client)
  return (cpu.user + cpu.system) / PER_ROUND
}

const samples: Record<'debug' | 'noop', number[]> = { debug: [], noop: [] }
for (let r = 0; r < rounds + 1; r++) {
  for (const log of ['debug', 'noop'] as const) {
    const us = await round(log)
    if (r > 0) samples[log].push(us) // round 0 warms up
  }
}
await broker.close()
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] as number }
const debug = median(samples.debug)
const quiet = median(samples.noop)
console.log(JSON.stringify({
  bench: 'mqtt-log',
  messagesPerRound: PER_ROUND,
  rounds,
  node: process.version,
  cpuUsPerMsgDebugLogger: Math.round(debug * 100) / 100,
  cpuUsPerMsgNoopLogger: Math.round(quiet * 100) / 100,
  noopVsDebug: Math.round(quiet / debug * 100) / 100
}))
