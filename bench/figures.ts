/**
 * The message-core figures: each runs the same generator (`runBench`, lean clients in worker threads) against one
 * broker and returns one number. bench/compare.ts runs them against mosquitto, plain aedes and HomeFleet's broker in
 * turn and prints each as a ratio to mosquitto's.
 */
import { runBench } from './load/run.ts'
import { cpuSplitMs, rssKiB, socketCount, type BrokerKind, type RunningBroker } from './brokers.ts'
import { measureIdleConnections } from './idle.ts'

export interface Figure {
  name: string
  unit: string
  /** Higher is better (throughput) or lower is better (memory). */
  better: 'higher' | 'lower'
  /** Kinds measured for this figure only, after the brokers compared (e.g. `node-tcp` for the connection storm). */
  baselines?: BrokerKind[]
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
    name: 'fanin-clean',
    unit: 'msg/s',
    better: 'higher',
    // Clean throughput: the highest open-loop rate (100 publishers → 1 subscriber, QoS 0) delivered in full (no loss,
    // at least 95 % of it within the window) with a p99 latency under 50 ms. Found by bisection between 0 and 1.25×
    // the broker's closed-loop figure, six 3 s runs (about 2 % resolution).
    async measure (b, ctx) {
      const peak = ctx.peak.get(b.kind) ?? await closedLoop(0, ctx.durationMs, b.url)
      let lo = 0
      let hi = 1.25 * peak
      let best = 0
      const tried: string[] = []
      for (let step = 0; step < 6; step++) {
        const offered = Math.round((lo + hi) / 2)
        const r = await runBench({ mode: 'pubsub', broker: b.url, clients: 100, subscribers: 1, size: 64, rate: offered, durationMs: Math.min(ctx.durationMs, 3000), warmupMs: 1000, connectRate: 0, drainMs: 2000 })
        const clean = r.latencyMs.p99 < 50 && r.lossRatio === 0 && r.receivedPerSecond >= 0.95 * offered
        tried.push(`${offered}:${clean ? 'clean' : `p99 ${r.latencyMs.p99} ms, loss ${(r.lossRatio * 100).toFixed(2)} %`}`)
        if (clean) { lo = offered; best = Math.max(best, r.receivedPerSecond) } else hi = offered
      }
      return { value: best, detail: { closedLoopPeak: peak, tried: tried.join('; ') } }
    }
  },
  {
    name: 'overload-3x',
    unit: 'delivered/peak',
    better: 'higher',
    // Open loop at 3× the broker's own closed-loop peak: what fraction of that peak is still delivered within the
    // window, the rate the generator really offered, messages lost, and the broker's peak RSS (target: < 1 GiB).
    async measure (b, ctx) {
      const peak = ctx.peak.get(b.kind) ?? await closedLoop(0, ctx.durationMs, b.url)
      let rssPeak = rssKiB(b.pid)
      const r = await runBench({ mode: 'pubsub', broker: b.url, clients: 100, subscribers: 1, size: 64, rate: 3 * peak, durationMs: ctx.durationMs, warmupMs: 1000, connectRate: 0, drainMs: 3000 }, {
        onTick: () => { rssPeak = Math.max(rssPeak, rssKiB(b.pid)) }
      })
      rssPeak = Math.max(rssPeak, rssKiB(b.pid))
      return {
        value: Math.round((r.receivedPerSecond / peak) * 1000) / 1000,
        detail: {
          closedLoopPeak: peak,
          offered: 3 * peak,
          sentPerSecond: r.sentPerSecond,
          deliveredPerSecond: r.receivedPerSecond,
          lossRatio: Math.round(r.lossRatio * 10_000) / 10_000,
          p99Ms: r.latencyMs.p99,
          rssPeakMiB: Math.round(rssPeak / 1024)
        }
      }
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
    // The ceiling of a broker on Node's `net` module, measured in the same run: a bare server that answers each
    // connection with a CONNACK and nothing else (bench/broker-process.ts).
    baselines: ['node-tcp'],
    // 10,000 clients connecting as fast as the generator goes.
    // At most 100 connects in progress (TCP connected or CONNECT sent, no CONNACK yet), under every broker's listen
    // backlog (mosquitto's is 100, Node's 511): an unbounded storm overflows the backlogs, and the figure then measures
    // the kernel's SYN retransmission timer (1 s, 3 s) rather than the broker.
    // The detail adds the broker process's CPU time per connection, connecting and closing it (read from /proc before
    // the storm and once the broker holds no more sockets than before it), in all and split into user and system
    // (kernel) time: a cost that, unlike the rate, does not depend on how much of the shared machine the broker got.
    async measure (b) {
      const sockets = socketCount(b.pid)
      const cpu0 = cpuSplitMs(b.pid)
      const r = await runBench({ mode: 'conn', broker: b.url, clients: 10_000, connectRate: 0, connectConcurrency: 100, durationMs: 500 })
      if (r.connectLatencyMs.count < 10_000) throw new Error(`connect-storm: ${r.connectLatencyMs.count} of 10,000 connected (${JSON.stringify(r.errors)})`)
      const deadline = Date.now() + 30_000
      while (socketCount(b.pid) > sockets && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      const settled = socketCount(b.pid) <= sockets
      const cpu1 = cpuSplitMs(b.pid)
      const perConnection = (ms: number): number | undefined => settled ? Math.round(ms / 10_000 * 1000) / 1000 : undefined
      return {
        value: r.connectRate,
        detail: {
          connackP50Ms: r.connectLatencyMs.p50,
          connackP99Ms: r.connectLatencyMs.p99,
          cpuMsPerConnection: perConnection(cpu1.user + cpu1.system - cpu0.user - cpu0.system),
          userMsPerConnection: perConnection(cpu1.user - cpu0.user),
          systemMsPerConnection: perConnection(cpu1.system - cpu0.system)
        }
      }
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
