/**
 * The CI-sized benchmark (`npm run bench:ci`, run by .ci/run, under a minute): fan-in QoS 0 closed-loop maximum of
 * HomeFleet's broker and of mosquitto, measured alternately in the same run, best of two rounds each. It prints one
 * JSON line and exits 1 when the ratio falls below the floor recorded in bench/floor.json less its noise margin, so a
 * large regression of the message core cannot land silently.
 */
import { readFileSync } from 'node:fs'
import { FIGURES, valueOf, type FigureContext } from './figures.ts'
import { startBroker, type BrokerKind } from './brokers.ts'

const floors = JSON.parse(readFileSync(new URL('./floor.json', import.meta.url), 'utf8')) as Record<string, { floor: number; margin: number } | string>
const name = 'fanin-qos0'
const figure = FIGURES.find((f) => f.name === name)!
const limit = floors[name] as { floor: number; margin: number }
const ctx: FigureContext = { durationMs: 3000, peak: new Map() }
const best = new Map<BrokerKind, number>()
for (let round = 0; round < 2; round++) {
  for (const kind of ['mosquitto', 'homefleet'] as const) {
    const b = await startBroker(kind)
    try {
      best.set(kind, Math.max(best.get(kind) ?? 0, valueOf(await figure.measure(b, ctx))))
    } finally {
      await b.stop()
    }
  }
}
const ratio = (best.get('homefleet') ?? 0) / Math.max(1, best.get('mosquitto') ?? 0)
const min = limit.floor * (1 - limit.margin)
const ok = ratio >= min
process.stdout.write(JSON.stringify({ figure: name, homefleet: best.get('homefleet'), mosquitto: best.get('mosquitto'), ratio: Math.round(ratio * 1000) / 1000, floor: limit.floor, margin: limit.margin, pass: ok }) + '\n')
if (!ok) {
  process.stderr.write(`bench:ci: ${name} ratio ${ratio.toFixed(3)} is below the floor ${limit.floor} less ${limit.margin * 100}% (${min.toFixed(3)})\n`)
  process.exitCode = 1
}
