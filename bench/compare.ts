/**
 * `npm run bench` (all figures) and `npm run bench:<figure>`: start mosquitto, plain aedes and HomeFleet's broker in
 * turn, run each figure against each with the same generator, and print one JSON line per figure and broker, with the
 * ratio to mosquitto's figure measured in the same run; a figure may add a baseline of its own (the connection storm
 * adds `node-tcp`, a bare Node TCP server). Usage: compare.ts [figure,…] [--duration 5s] [--brokers a,b]
 */
import { FIGURES, valueOf, type Figure, type FigureContext } from './figures.ts'
import { startBroker, type BrokerKind } from './brokers.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i === -1 ? undefined : args[i + 1] }
const wanted = args.find((a) => !a.startsWith('--') && !args[args.indexOf(a) - 1]?.startsWith('--'))?.split(',')
const durationMs = Number((flag('--duration') ?? '5').replace(/s$/, '')) * 1000
const brokers = (flag('--brokers') ?? 'mosquitto,aedes,homefleet').split(',') as BrokerKind[]
const figures = FIGURES.filter((f) => wanted === undefined || wanted.includes(f.name))
if (figures.length === 0) { process.stderr.write(`no such figure; figures: ${FIGURES.map((f) => f.name).join(', ')}\n`); process.exit(2) }

const ctx: FigureContext = { durationMs, peak: new Map() }
let failed = 0
/** Baselines other than mosquitto (plain aedes, the bare Node server) that could not be measured. */
const baselineFailures: string[] = []
const results = new Map<string, Map<BrokerKind, number>>()
// Figure by figure, each broker in turn and then the baselines the figure adds: a figure's brokers are measured
// minutes apart at most, so a change in the shared machine's load between figures does not fall on one broker alone.
const runs: Array<[BrokerKind, Figure]> = []
for (const figure of figures) {
  for (const kind of brokers) runs.push([kind, figure])
  for (const kind of figure.baselines ?? []) if (!brokers.includes(kind)) runs.push([kind, figure])
}
for (const [kind, figure] of runs) {
  // A fresh broker per figure: no figure inherits another's connections or memory.
  const b = await startBroker(kind)
  try {
    const measured = await figure.measure(b, ctx)
    const value = valueOf(measured)
    if (!results.has(figure.name)) results.set(figure.name, new Map())
    results.get(figure.name)?.set(kind, value)
    const base = results.get(figure.name)?.get('mosquitto')
    process.stdout.write(JSON.stringify({ figure: figure.name, broker: kind, value, unit: figure.unit, better: figure.better, ratioToMosquitto: base === undefined || base === 0 ? null : Math.round((value / base) * 1000) / 1000, ...(typeof measured === 'number' ? {} : { detail: measured.detail }) }) + '\n')
  } catch (err) {
    // A figure that could not be measured is an error line, never a number. It fails the run when it is HomeFleet's
    // or mosquitto's (the ratios rest on both); plain aedes under overload can crash on its own (mqemitter's
    // `RangeError: Maximum call stack size exceeded`), which is a finding about that baseline, reported as such.
    const error = err instanceof Error ? err.message : String(err)
    const baseline = kind !== 'homefleet' && kind !== 'mosquitto'
    if (baseline) baselineFailures.push(`${kind} ${figure.name}`)
    else failed++
    process.stdout.write(JSON.stringify({ figure: figure.name, broker: kind, error, ...(baseline ? { baseline: true } : {}) }) + '\n')
  } finally {
    await b.stop()
  }
}
if (baselineFailures.length > 0) process.stderr.write(`bench: baseline(s) not measured, see their error lines: ${baselineFailures.join(', ')}\n`)
if (failed > 0) {
  process.stderr.write(`bench: ${failed} figure(s) could not be measured (see the error lines)\n`)
  process.exitCode = 1
}
