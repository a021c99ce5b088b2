/**
 * Inside the broker thread: the embedded broker, serving the connections the main thread opens over the channel
 * (thread-mux.ts) and its own TCP listener. Its log lines, its statistics and its closing go to the main thread as
 * messages (see thread.ts for the other end).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { pino } from 'pino'
import { createBroker } from './broker.ts'
import { ThreadMux } from './thread-mux.ts'
import type { HostMessage, MainMessage, ThreadBrokerSettings } from './thread.ts'
import { FleetError } from '../core/errors.ts'

const port = parentPort
if (port === null) throw new Error('broker/thread-host.ts runs in a worker thread')
const settings = workerData as ThreadBrokerSettings
const post = (m: HostMessage): void => { port.postMessage(m) }

// Log lines go to the main thread as they are written (pino's JSON line), where the run's own logger writes them.
const logger = pino({ level: settings.logLevel, base: null, timestamp: false }, { write: (line: string) => { post({ type: 'log', line }) } })

try {
  const { logLevel: _level, statsIntervalMs, ...options } = settings
  const broker = await createBroker({ ...options, logger })
  const mux = new ThreadMux(port, 1, (stream) => { broker.acceptStream(stream) })
  const sendStats = (): void => { post({ type: 'stats', stats: broker.stats(), connections: mux.connections }) }
  const timer = setInterval(sendStats, statsIntervalMs)
  port.on('message', (m: MainMessage | { mux: ArrayBuffer }) => {
    if (!('type' in m)) return
    if (m.type === 'stats') sendStats()
    if (m.type === 'close') {
      clearInterval(timer)
      void broker.close().then(() => {
        mux.close()
        sendStats()
        post({ type: 'closed' })
        port.close()
      })
    }
  })
  post({ type: 'ready', url: broker.url, port: broker.port, stats: broker.stats() })
} catch (err) {
  const e = err as Error & { code?: string }
  post({ type: 'failed', message: e.message, ...(e instanceof FleetError ? { code: e.code } : {}) })
  port.close()
}
