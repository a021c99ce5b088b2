/** What `runBench` tells a load worker, and what the worker reports back (structured-clone data only). */

export type BenchMode = 'conn' | 'pub' | 'sub' | 'pubsub'

export interface WorkerPlan {
  worker: number
  mode: BenchMode
  host: string
  port: number
  /** Global client indices [start, end) of this worker's publishers (conn mode: its connections). */
  pubStart: number
  pubEnd: number
  subStart: number
  subEnd: number
  clientIdPrefix: string
  /** Added to every client index in ids and topics (`-n`). */
  startIndex: number
  topic: string
  subTopic: string
  qos: 0 | 1
  size: number
  /** Milliseconds between this worker's connects (0: all at once). */
  connectEveryMs: number
  /** Connects in progress at once in this worker (TCP connect and CONNECT sent, no CONNACK yet); 0 for no bound. */
  maxConnecting: number
  /** Messages per second for this worker, 0 for as fast as the sockets take them (or per-publisher intervals). */
  rate: number
  /**
   * Milliseconds between two messages of each publisher (emqtt-bench -I), 0 for none. Publishers are spread evenly
   * over the interval by global index, so the run's total is publishers ÷ interval, smoothly.
   */
  intervalMs: number
  /** Publishers of the whole run (all workers), for spreading the intervals. */
  publishersTotal: number
  /** Most messages this worker sends (0: no limit). */
  limit: number
  /** Sent and not yet received, at most (closed loop; 0: open loop). Needs publishers and subscribers in one worker. */
  maxOutstanding: number
  /** Unacknowledged QoS 1 messages per publisher, at most. */
  inflight: number
  username: string | undefined
  password: string | undefined
  /** After this worker's clients are connected: warm-up (not measured), then the measured window. */
  warmupMs: number
  durationMs: number
  /** How long after sending stops to wait for the last messages to arrive. */
  drainMs: number
}

export interface WorkerTotals {
  connected: number
  connectFailures: number
  /** Sent since the start of the run, and in the measured window. */
  sentTotal: number
  sent: number
  received: number
  /** Received within the measured window (from the end of the warm-up until sending stopped), for rates. */
  receivedInWindow: number
  /** Length of the measured window, ms (0 until it has closed). */
  windowMs: number
  receivedTotal: number
  duplicates: number
  reordered: number
  acked: number
  errors: Record<string, number>
  /** Date.now() of the first connect attempt and of the last CONNACK (0 when none). */
  firstConnectAt: number
  lastConnackAt: number
  /** Latency histogram of the measured window (µs): counts, min, max. */
  latency: { counts: Float64Array; min: number; max: number }
  connectLatency: { counts: Float64Array; min: number; max: number }
}

export type WorkerMessage =
  | { type: 'tick'; totals: WorkerTotals }
  /** This worker's clients are connected and subscribed; it waits for 'go'. */
  | { type: 'ready'; totals: WorkerTotals }
  /** This worker's publishers have stopped (limit reached or time up). */
  | { type: 'sending-done'; totals: WorkerTotals }
  | { type: 'done'; totals: WorkerTotals }
