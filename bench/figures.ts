/**
 * The message-core figures: each runs the same generator (`runBench`, lean clients in worker threads) against one
 * broker and returns one number. bench/compare.ts runs them against mosquitto, plain aedes and HomeFleet's broker in
 * turn and prints each as a ratio to mosquitto's.
 */
import { runBench } from './load/run.ts'
import type { RunningBroker } from './brokers.ts'
import { measureIdleConnections } from './idle.ts'

export interface Figure {
  name: string
  unit: string
  /** Higher is better (throughput) or lower is better (memory). */
  better: 'higher' | 'lower'
  measure (broker: RunningBroker, ctx: FigureContext): Promise<number | Measured>
}

/** A figure's value with what it was computed from, printed beside it. */
export interface Measured { value: number; detail: Record<string, number | string | undefined> }

export function valueOf (m: number | Measured): number { return typeof m === 'number' ? m : m.value }

export interface FigureContext {
  durationMs: number
  /** Each broker's fan-in peak (msg/s) from the closed-loop figure, for the overload figure. */
  peak: Map<string, number>
}

const closedLoop = (qos: 0 | 1, durationMs: number, url: string): Promise<number> => runBench({
  mode: 'pubsub', broker: url, clients: 100, subscribers: 1, qos, size: 64, workers: 1, maxOutstanding: 1000,
  durationMs, warmupMs: 1000, connectRate: 0, topic: 'bench/%i'
}).then((r) => r.receivedPerSecond)

export const FIGURES: Figure[] = [
  {
    name: 'fanin-qos0',
    unit: 'msg/s',
    better: 'higher',
    // 100 publishers → 1 subscriber, 64-byte QoS 0, closed loop (at most 1,000 messages outstanding): the maximum.
    async measure (b, ctx) {
      const rate = await closedLoop(0, ctx.durationMs, b.url)
      ctx.peak.set(b.kind, rate)
      return rate
    }
  },
  {
    name: 'fanin-qos1',
    unit: 'msg/s',
    better: 'higher',
    measure: (b, ctx) => closedLoop(1, ctx.durationMs, b.url)
  },
  {
    name: 'overload-3x',
    unit: 'delivered/peak',
    better: 'higher',
    // Open loop at 3× the broker's own closed-loop peak: what fraction of that peak is still delivered.
    async measure (b, ctx) {
      const peak = ctx.peak.get(b.kind) ?? await closedLoop(0, ctx.durationMs, b.url)
      const r = await runBench({ mode: 'pubsub', broker: b.url, clients: 100, subscribers: 1, size: 64, rate: 3 * peak, durationMs: ctx.durationMs, warmupMs: 1000, connectRate: 0, drainMs: 3000 })
      return Math.round((r.receivedPerSecond / peak) * 1000) / 1000
    }
  },
  {
    name: 'fanout-1000',
    unit: 'deliveries/s',
    better: 'higher',
    // 1 publisher at 100 msg/s → 1,000 subscribers: 100,000 deliveries a second offered.
    async measure (b, ctx) {
      const r = await runBench({ mode: 'pubsub', broker: b.url, clients: 1, subscribers: 1000, size: 64, rate: 100, durationMs: ctx.durationMs, warmupMs: 1000, connectRate: 0, drainMs: 3000 })
      return r.receivedPerSecond
    }
  },
  {
    name: 'connect-storm',
    unit: 'conn/s',
    better: 'higher',
    // 10,000 clients connecting as fast as the generator goes.
    async measure (b) {
      const r = await runBench({ mode: 'conn', broker: b.url, clients: 10_000, connectRate: 0, durationMs: 500 })
      return r.connectRate
    }
  },
  {
    name: 'idle-rss-per-conn',
    unit: 'KiB/conn',
    better: 'lower',
    // The broker's RSS growth with 10,000 idle connections held, per connection: all established and answering a
    // PINGREQ before the RSS is read (bench/idle.ts); it throws rather than report a partial figure.
    async measure (b) {
      const r = await measureIdleConnections(b, { connections: 10_000 })
      return { value: r.rssPerConnectionKiB, detail: { ...r } }
    }
  }
]
