/**
 * `fleet bench`: {@link runBench} with a live line on stderr each second and the report on stdout (text or JSON).
 * Exit 1 when a --fail-if condition holds.
 */
import { runBench, type BenchMode, type BenchReport, type BenchTick } from '../bench/load/run.ts'
import type { BenchValues, CommandContext } from './commands.ts'
import { UsageError } from './options.ts'

const MODES: readonly BenchMode[] = ['conn', 'pub', 'sub', 'pubsub']

const fmt = (n: number): string => n.toLocaleString('en-US')
const ms = (n: number): string => n >= 100 ? `${Math.round(n)}ms` : `${n.toFixed(n >= 10 ? 1 : 2)}ms`

export function formatTick (t: BenchTick): string {
  return `${(t.elapsedMs / 1000).toFixed(0).padStart(4)}s  conn ${fmt(t.connected)}  sent ${fmt(t.sentPerSecond)}/s  recv ${fmt(t.receivedPerSecond)}/s  p50 ${ms(t.p50Ms)}  p99 ${ms(t.p99Ms)}  errors ${fmt(t.errors)}`
}

export function formatReport (r: BenchReport): string {
  const lines = [
    `fleet bench ${r.mode} against ${r.embedded ? 'the embedded broker' : r.broker} — ${fmt(r.clients)} client(s)${r.mode === 'pubsub' ? ` + ${fmt(r.subscribers)} subscriber(s)` : ''}, ${r.workers} worker(s), ${(r.measuredMs / 1000).toFixed(1)}s measured`,
    `connections  ${fmt(r.connected)} up, ${fmt(r.connectFailures)} failed, ${fmt(r.connectRate)}/s; CONNACK p50 ${ms(r.connectLatencyMs.p50)} p99 ${ms(r.connectLatencyMs.p99)} max ${ms(r.connectLatencyMs.max)}`
  ]
  if (r.mode !== 'conn') {
    lines.push(`messages     sent ${fmt(r.sent)} (${fmt(r.sentPerSecond)}/s), received ${fmt(r.received)} (${fmt(r.receivedPerSecond)}/s)`)
    if (r.latencyMs.count > 0) {
      lines.push(`latency      p50 ${ms(r.latencyMs.p50)}  p90 ${ms(r.latencyMs.p90)}  p99 ${ms(r.latencyMs.p99)}  p99.9 ${ms(r.latencyMs.p999)}  max ${ms(r.latencyMs.max)}  (${fmt(r.latencyMs.count)} samples)`)
    }
    if (r.mode === 'pubsub') lines.push(`delivery     lost ${fmt(r.lost)} (${(r.lossRatio * 100).toFixed(3)}%), duplicates ${fmt(r.duplicates)}, reordered ${fmt(r.reordered)}`)
  }
  const errors = Object.entries(r.errors)
  lines.push(errors.length === 0 ? 'errors       none' : `errors       ${errors.map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')}`)
  for (const t of r.thresholds) lines.push(`${t.failed ? 'FAILED' : 'ok    '}       ${t.threshold} (actual ${Number.isInteger(t.actual) ? fmt(t.actual) : t.actual.toFixed(3)})`)
  return lines.join('\n') + '\n'
}

export async function runBenchCommand (ctx: CommandContext<BenchValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const mode = ctx.positionals[0]
  if (mode === undefined || !(MODES as readonly string[]).includes(mode)) {
    throw new UsageError('bench', `fleet bench: the mode must be one of ${MODES.join(', ')}, got ${mode === undefined ? 'nothing' : JSON.stringify(mode)}`)
  }
  if (ctx.positionals.length > 1) throw new UsageError('bench', `fleet bench: one mode only, got ${ctx.positionals.join(' ')}`)
  if (o.connectInterval !== undefined && o.connectRate !== 2000) throw new UsageError('bench', 'fleet bench: give --connect-interval (-i) or --connect-rate (-R), not both')
  if (o.interval !== undefined && o.rate !== 0) throw new UsageError('bench', 'fleet bench: give --interval (-I) or --rate, not both')
  const connectRate = o.connectInterval === undefined ? o.connectRate : o.connectInterval === 0 ? 0 : 1000 / o.connectInterval
  const report = await runBench({
    mode: mode as BenchMode,
    broker: o.broker === 'embedded' ? undefined : o.broker,
    clients: o.clients,
    subscribers: o.subscribers,
    connectRate,
    connectConcurrency: o.connectConcurrency,
    rate: o.rate,
    interval: o.interval ?? 0,
    topic: o.topic,
    subTopic: o.subTopic,
    qos: o.qos === '1' ? 1 : 0,
    size: o.size,
    limit: o.limit,
    durationMs: o.duration,
    warmupMs: o.warmup,
    clientIdPrefix: o.prefix,
    startIndex: o.startIndex,
    username: o.username,
    password: o.password,
    workers: o.workers,
    maxOutstanding: o.maxOutstanding,
    inflight: o.inflight,
    failIf: o.failIf
  }, {
    signal,
    onTick: o.quiet ? undefined : (t) => { io.stderr.write(formatTick(t) + '\n') }
  })
  io.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatReport(report))
  return report.passed ? 0 : 1
}
