/**
 * `npm run bench:topics`: what reading a topic costs on the observer's hot path.
 *
 * Three readers over the same mix of topics (a fleet's traffic: mostly telemetry, then events, status, reported
 * state, commands and replies, and a few topics outside the contract), in the same process:
 *
 * - `splitParse`, the baseline: the hand-written parser the contract had before it became table-driven
 *   (split into levels, slice, compare, build an object), kept here verbatim as the reference;
 * - `parse`: the table-driven `Topics.parse` (classifies, then builds `{channel, …variables}`);
 * - `classify`: `TopicClassifier.classify` plus slicing the device id, which is all the observer needs.
 *
 * Each reader runs 3 warm-up rounds, then `--rounds` rounds (default 5) over the mix, alternating readers so the machine's noise hits all
 * alike; the result is the median nanoseconds per topic and the garbage collections seen while it ran (a proxy for
 * allocation). Prints one JSON object with the ratios to the baseline. Bounded: a fixed number of topics per round.
 */
import { PerformanceObserver } from 'node:perf_hooks'
import { createTopics, isValidLevel } from '../core/topics.ts'

const roundsArg = process.argv.indexOf('--rounds')
const rounds = roundsArg > 0 ? Math.max(1, Math.min(21, Number(process.argv[roundsArg + 1]) || 5)) : 5
const PER_ROUND = 2_000_000

const topics = createTopics('home')
const mix: string[] = []
for (let d = 0; d < 1000; d++) {
  const id = `home-${String(d).padStart(4, '0')}-kitchen-speaker`
  for (let i = 0; i < 12; i++) mix.push(topics.telemetry(id))
  mix.push(topics.event(id, 'motion'), topics.status(id), topics.reported(id), topics.command(id, 'setVolume', `r${d}`), topics.reply(id, `r${d}`), topics.log(id))
  if (d % 50 === 0) mix.push('$SYS/broker/uptime', 'other/x/telemetry', topics.bridgeStatus())
}

/** The contract's parser before it was table-driven: the baseline. */
function splitParse (topic: string): Record<string, string> | undefined {
  const prefixLevels = ['home']
  const plen = 1
  const levels = topic.split('/')
  for (let i = 0; i < plen; i++) if (levels[i] !== prefixLevels[i]) return undefined
  const rest = levels.slice(plen)
  const [deviceId, a, b, c] = rest
  if (deviceId === undefined || a === undefined || !isValidLevel(deviceId)) return undefined
  switch (rest.length) {
    case 2:
      if (a === 'status' || a === 'info' || a === 'telemetry' || a === 'log') return { channel: a, deviceId }
      return undefined
    case 3:
      if (a === 'events' && b !== undefined && isValidLevel(b)) return { channel: 'event', deviceId, name: b }
      if (a === 'state' && (b === 'reported' || b === 'desired')) return { channel: b, deviceId }
      if (a === 'replies' && b !== undefined && isValidLevel(b)) return { channel: 'reply', deviceId, rid: b }
      return undefined
    case 4:
      if (a === 'commands' && b !== undefined && isValidLevel(b) && c !== undefined && isValidLevel(c)) return { channel: 'command', deviceId, name: b, rid: c }
      return undefined
    default:
      return undefined
  }
}

const classifier = topics.classifier()
let sink = 0
// One loop per reader (not one loop calling a reader function), so each call site stays monomorphic.
const readers: Record<string, (n: number) => void> = {
  loop: (n) => { for (let i = 0; i < n; i++) sink += (mix[i % mix.length] as string).length },
  splitParse: (n) => {
    for (let i = 0; i < n; i++) { const p = splitParse(mix[i % mix.length] as string); if (p !== undefined) sink += (p.channel as string).length }
  },
  parse: (n) => {
    for (let i = 0; i < n; i++) { const p = topics.parse(mix[i % mix.length] as string); if (p !== undefined) sink += p.channel.length }
  },
  classify: (n) => {
    for (let i = 0; i < n; i++) {
      const t = mix[i % mix.length] as string
      const ch = classifier.classify(t)
      // The observer slices the device id of device topics (channels 0–8) to find its record.
      if (ch >= 0 && ch < 9) sink += t.slice(classifier.spans[0], classifier.spans[1]).length
    }
  }
}

let gcs = 0
const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length })
obs.observe({ entryTypes: ['gc'] })

const WARMUP = 3
const samples: Record<string, Array<{ ns: number; gcs: number }>> = { loop: [], splitParse: [], parse: [], classify: [] }
for (let r = 0; r < rounds + WARMUP; r++) {
  for (const [name, run] of Object.entries(readers)) {
    // GC entries arrive asynchronously: let the previous reader's land before counting this one's.
    await new Promise<void>((resolve) => { setTimeout(resolve, 100) })
    const gcBefore = gcs
    const t0 = process.hrtime.bigint()
    run(PER_ROUND)
    const ns = Number(process.hrtime.bigint() - t0) / PER_ROUND
    await new Promise<void>((resolve) => { setTimeout(resolve, 100) })
    if (r >= WARMUP) samples[name]?.push({ ns, gcs: gcs - gcBefore }) // the first rounds warm up the JIT
  }
}
obs.disconnect()

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] as number }
const result: Record<string, unknown> = { bench: 'topics', topicsPerRound: PER_ROUND, rounds, node: process.version }
for (const [name, s] of Object.entries(samples)) {
  result[name] = { nsPerTopic: Math.round(median(s.map((x) => x.ns)) * 10) / 10, gcsPerRound: median(s.map((x) => x.gcs)) }
}
const base = median(samples.splitParse!.map((x) => x.ns))
result.parseVsBaseline = Math.round(median(samples.parse!.map((x) => x.ns)) / base * 100) / 100
result.classifyVsBaseline = Math.round(median(samples.classify!.map((x) => x.ns)) / base * 100) / 100
result.sink = sink % 7
console.log(JSON.stringify(result))
