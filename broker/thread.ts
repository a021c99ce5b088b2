/**
 * The embedded broker in a thread of its own. A fleet of tens of thousands of in-process devices spends about as
 * much CPU on the broker's side of each connection (parsing, routing, aedes' session work) as on the devices' side
 * (MQTT.js, the simulation); in one thread the two take turns on one core. Here the broker runs in a worker thread
 * and the devices reach it over one multiplexed channel (thread-mux.ts), so both halves run at once on two cores.
 *
 * It offers what a fleet run needs of an embedded broker: in-process connections, the TCP listener for outside tools,
 * statistics, close. Hooks and events cannot cross threads (they are functions called per packet): a broker that
 * needs them is made with createBroker() in the calling thread.
 */
import { Worker } from 'node:worker_threads'
import type { Duplex } from 'node:stream'
import type { LevelWithSilent } from 'pino'
import { pino } from 'pino'
import type { Logger } from '../core/logger.ts'
import { FleetError, type FleetErrorCode } from '../core/errors.ts'
import { validateBrokerOptions, type BrokerHooks, type BrokerOptions, type BrokerStats } from './broker.ts'
import { refusedStream } from '../core/mqtt-connect.ts'
import { ThreadMux } from './thread-mux.ts'

/** What a fleet run needs of an embedded broker, in this thread ({@link createBroker}) or in its own. */
export interface BrokerHandle {
  /** The TCP port actually bound, or undefined without a TCP listener. */
  readonly port: number | undefined
  /** `mqtt://host:port` for clients, or undefined without a TCP listener. */
  readonly url: string | undefined
  /** True once close() has been called (or the broker's thread ended). */
  readonly closed: boolean
  /** Open an in-process connection: the returned stream is the client's end. */
  connectInProcess (): Duplex
  /** The broker's statistics (from the broker thread: as of its last report, at most a second old). */
  stats (): BrokerStats
  /** Close every connection and the listener. Idempotent. */
  close (): Promise<void>
}

/** The broker options a thread can take: everything but the hooks and the logger object. */
export type ThreadBrokerOptions = Partial<Omit<BrokerOptions, keyof BrokerHooks>>

/** @internal what the thread is started with. */
export type ThreadBrokerSettings = Omit<BrokerOptions, keyof BrokerHooks | 'logger'> & { logLevel: LevelWithSilent; statsIntervalMs: number }

/** @internal messages from the broker thread. */
export type HostMessage =
  | { type: 'ready'; url: string | undefined; port: number | undefined; stats: BrokerStats }
  | { type: 'stats'; stats: BrokerStats; connections: number }
  | { type: 'log'; line: string }
  | { type: 'closed' }
  | { type: 'failed'; message: string; code?: string }

/** @internal messages to the broker thread. */
export type MainMessage = { type: 'stats' } | { type: 'close' }

export interface ThreadBroker extends BrokerHandle {
  /** The thread's id, for diagnostics. */
  readonly threadId: number
  /** Batches and bytes carried each way over the channel since start. */
  channelStats (): { batchesOut: number; bytesOut: number; batchesIn: number; bytesIn: number; connections: number }
}

const STATS_INTERVAL_MS = 1000
/** How long close() waits for the thread to close its broker before ending the thread. */
const CLOSE_TIMEOUT_MS = 10_000

/**
 * Start the embedded broker in a worker thread. Resolves once it listens (with `tcp`) and accepts in-process
 * connections; rejects with the broker's own error (FLEET_ERR_PORT_IN_USE, …) when it cannot start.
 */
export async function createThreadBroker (given: ThreadBrokerOptions = {}): Promise<ThreadBroker> {
  for (const hook of ['authenticate', 'authorizePublish', 'authorizeSubscribe'] as const) {
    if ((given as Partial<BrokerOptions>)[hook] !== undefined) throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `broker: ${hook}: a broker in its own thread takes no hooks (they would run per packet across threads); use createBroker()`)
  }
  const options = validateBrokerOptions(given)
  const logger: Logger = options.logger
  const { logger: _logger, authenticate: _a, authorizePublish: _p, authorizeSubscribe: _s, ...plain } = options
  const settings: ThreadBrokerSettings = { ...plain, logLevel: logger.level as LevelWithSilent, statsIntervalMs: STATS_INTERVAL_MS }

  const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: settings })
  const mux = new ThreadMux(worker, 0)
  let latest: BrokerStats | undefined
  let closed = false
  let ended = false
  let onClosed: (() => void) | undefined
  const labels = pino.levels.labels

  const ready = await new Promise<{ url: string | undefined; port: number | undefined }>((resolve, reject) => {
    worker.on('message', (m: HostMessage | { mux: ArrayBuffer }) => {
      if (!('type' in m)) return
      switch (m.type) {
        case 'ready': latest = m.stats; resolve({ url: m.url, port: m.port }); break
        case 'stats': latest = m.stats; break
        case 'log': relayLog(logger, labels, m.line); break
        case 'closed': onClosed?.(); break
        case 'failed': reject(new FleetError((m.code ?? 'FLEET_ERR_INTERNAL') as FleetErrorCode, m.message)); break
      }
    })
    worker.once('error', (err) => {
      logger.error({ part: 'broker', err }, 'the broker thread failed')
      reject(new FleetError('FLEET_ERR_INTERNAL', `the broker thread failed: ${err.message}`, { cause: err }))
    })
    worker.once('exit', (code) => {
      ended = true
      closed = true
      // Every connection ends as a dropped socket would; devices see their broker gone.
      mux.close()
      onClosed?.()
      reject(new FleetError('FLEET_ERR_INTERNAL', `the broker thread ended (exit code ${code}) before it was ready`))
    })
  })

  let closing: Promise<void> | undefined
  return {
    url: ready.url,
    port: ready.port,
    threadId: worker.threadId,
    get closed () { return closed },
    connectInProcess () {
      if (closed) return refusedStream('the embedded broker is closed')
      return mux.open()
    },
    stats () { return { ...(latest as BrokerStats) } },
    channelStats () { return { ...mux.counters, connections: mux.connections } },
    close () {
      closing ??= (async () => {
        closed = true
        if (ended) return
        // The thread closes its broker (connections, listener) and says so; one that does not within the bound is
        // ended all the same, so close() cannot hang on it.
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>((resolve) => {
          onClosed = resolve
          timer = setTimeout(() => {
            logger.warn({ part: 'broker', waitedMs: CLOSE_TIMEOUT_MS }, 'the broker thread did not close in time; ending it')
            resolve()
          }, CLOSE_TIMEOUT_MS)
          const m: MainMessage = { type: 'close' }
          worker.postMessage(m)
        })
        clearTimeout(timer)
        mux.close()
        await worker.terminate()
      })()
      return closing
    }
  }
}

/** Write a log line of the broker thread (pino JSON) through this thread's logger, at its level. */
function relayLog (logger: Logger, labels: Record<number, string>, line: string): void {
  let record: Record<string, unknown>
  try { record = JSON.parse(line) as Record<string, unknown> } catch { return }
  const { level, msg, ...fields } = record
  const label = labels[Number(level)] ?? 'info'
  const write = (logger as unknown as Record<string, (o: object, m?: string) => void>)[label]
  write?.call(logger, fields, typeof msg === 'string' ? msg : undefined)
}
