/**
 * The embedded broker: aedes 1.x (MQTT 3.1.1 and 3.1) behind {@link createBroker}, with a TCP listener and an
 * in-process transport that carries real MQTT packets over a duplex stream pair.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type ConnectPacket } from 'aedes'
import { FleetError } from '../core/errors.ts'
import { IssueCollector, mergeOptions } from '../core/options.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import { refusedStream } from '../core/mqtt-connect.ts'
import { duplexPair } from './duplex-pair.ts'
import { indexRetained, type RetainedPersistence } from './retained-index.ts'
import { createRequire } from 'node:module'

// aedes-persistence is CommonJS whose typings declare an ESM default export; load it the way Node resolves it.
const memoryPersistence = createRequire(import.meta.url)('aedes-persistence') as () => RetainedPersistence

export interface BrokerOptions {
  /** TCP port; 0 picks a free one. Default 1883. */
  port: number
  /** Interface to listen on. Default 127.0.0.1 (loopback only); `0.0.0.0` for every interface. */
  host: string
  /** Open the TCP listener at all. With `false` only the in-process transport is available. Default true. */
  tcp: boolean
  /** aedes `concurrency`: messages in flight through the router at once. Default 1000. */
  concurrency: number
  /** Seconds between `$SYS/<id>/heartbeat` publications. Default 60. */
  heartbeatInterval: number
  /** Milliseconds to wait for a slow client's socket to drain before dropping it. Default 30000. */
  drainTimeout: number
  /** Milliseconds to wait for CONNECT after a connection opens. Default 30000. */
  connectTimeout: number
  /** Broker id, as in `$SYS/<id>/…`. Default: a random id. */
  id: string | undefined
  logger: Logger
}

export const defaultBrokerOptions: Readonly<BrokerOptions> = Object.freeze({
  port: 1883,
  host: '127.0.0.1',
  tcp: true,
  concurrency: 1000,
  heartbeatInterval: 60,
  drainTimeout: 30_000,
  connectTimeout: 30_000,
  id: undefined,
  logger: silentLogger
})

export interface BrokerStats {
  /** Clients connected now (TCP and in-process). */
  clients: number
  /** Connections accepted since start, including ones later closed or refused. */
  connectionsTotal: number
  /** PUBLISH packets received from clients since start. */
  publishedIn: number
  /** Client errors (malformed packets, protocol violations, drain time-outs); each closed one connection. */
  clientErrors: number
  startedAt: number
}

export interface EmbeddedBroker {
  readonly aedes: Aedes
  readonly options: Readonly<BrokerOptions>
  /** The TCP port actually bound (useful with port 0), or undefined without a TCP listener. */
  readonly port: number | undefined
  /** `mqtt://host:port` for clients, or undefined without a TCP listener. */
  readonly url: string | undefined
  /** Open an in-process connection: the returned stream is the client's end; the broker holds the other. */
  connectInProcess (): Duplex
  stats (): BrokerStats
  /** Close every connection and the listener. Idempotent. */
  close (): Promise<void>
}

export function validateBrokerOptions (given: Partial<BrokerOptions> = {}): Readonly<BrokerOptions> {
  const c = new IssueCollector()
  c.integer('port', given.port, 0, 65535)
  c.string('host', given.host)
  c.integer('concurrency', given.concurrency, 1, 1_000_000)
  c.number('heartbeatInterval', given.heartbeatInterval, 1, 86_400)
  c.integer('drainTimeout', given.drainTimeout, 0, 3_600_000)
  c.integer('connectTimeout', given.connectTimeout, 100, 3_600_000)
  if (given.tcp !== undefined && typeof given.tcp !== 'boolean') c.add('tcp', 'must be true or false')
  c.string('id', given.id)
  c.throwIfAny('broker')
  return mergeOptions(defaultBrokerOptions, given)
}

/** The shape of an aedes/CONNACK refusal: aedes reads `returnCode` off the error given to `authenticate`'s callback. */
function refusal (message: string, returnCode: 2 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode })
}

/**
 * Start an embedded broker. Rejects with FLEET_ERR_OPTIONS_INVALID (every bad option named),
 * FLEET_ERR_PORT_IN_USE (naming host:port) or FLEET_ERR_LISTEN.
 */
export async function createBroker (given: Partial<BrokerOptions> = {}): Promise<EmbeddedBroker> {
  const options = validateBrokerOptions(given)
  const log = options.logger.child({ part: 'broker' })

  // [MQTT-3.1.3-8]: a zero-byte ClientId with CleanSession=0 must be answered with CONNACK 0x02
  // (identifier rejected) and the connection closed. aedes 1.x instead invents an id, so we mark such
  // connections in preConnect (which sees the packet) and refuse them in authenticate (which can set the code).
  const emptyIdPersistent = new WeakSet<Client>()
  const aedesOptions: AedesOptions = {
    concurrency: options.concurrency,
    heartbeatInterval: options.heartbeatInterval * 1000,
    drainTimeout: options.drainTimeout,
    connectTimeout: options.connectTimeout,
    // MQTT 3.1.1 lifts 3.1's 23-character limit; HomeFleet ids such as `home-0042-speaker-living-room` exceed it.
    maxClientsIdLength: 128,
    persistence: indexRetained(memoryPersistence()),
    preConnect (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) {
      if (packet.clientId === '' && packet.clean === false) emptyIdPersistent.add(client)
      done(null, true)
    },
    authenticate (client: Client, _username: Readonly<string> | undefined, _password: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void) {
      if (emptyIdPersistent.has(client)) {
        log.debug('refused a zero-length client id with CleanSession=0 [MQTT-3.1.3-8]')
        done(refusal('identifier rejected: a zero-length client id requires CleanSession=1', 2), false)
        return
      }
      done(null, true)
    }
  }
  if (options.id !== undefined) aedesOptions.id = options.id
  const aedes = await Aedes.createBroker(aedesOptions)

  const stats: BrokerStats = { clients: 0, connectionsTotal: 0, publishedIn: 0, clientErrors: 0, startedAt: Date.now() }
  aedes.on('publish', (_packet, client) => { if (client !== null) stats.publishedIn++ })
  aedes.on('clientError', (client, err) => {
    stats.clientErrors++
    log.debug({ clientId: client.id, err: err.message }, 'client error; connection closed')
  })
  aedes.on('connectionError', (client, err) => {
    stats.clientErrors++
    log.debug({ clientId: client.id, err: err.message }, 'connection error; connection closed')
  })

  const open = new Set<Duplex>()
  const track = (stream: Duplex): void => {
    stats.connectionsTotal++
    open.add(stream)
    stream.once('close', () => open.delete(stream))
  }

  let server: Server | undefined
  let port: number | undefined
  if (options.tcp) {
    const srv = createServer((socket: Socket) => {
      socket.setNoDelay(true)
      track(socket)
      aedes.handle(socket)
    })
    server = srv
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject)
        srv.listen(options.port, options.host, () => { srv.off('error', reject); resolve() })
      })
    } catch (err) {
      await new Promise<void>((resolve) => { aedes.close(() => { resolve() }) })
      const code = (err as NodeJS.ErrnoException).code
      const where = `${options.host}:${options.port}`
      if (code === 'EADDRINUSE') throw new FleetError('FLEET_ERR_PORT_IN_USE', `port ${options.port} on ${options.host} is already in use (choose another with --port, or --port 0 for any free port)`, { cause: err })
      throw new FleetError('FLEET_ERR_LISTEN', `cannot listen on ${where}: ${(err as Error).message}`, { cause: err })
    }
    srv.on('error', (err) => { log.error({ err }, 'listener error') })
    const addr = srv.address()
    port = typeof addr === 'object' && addr !== null ? addr.port : undefined
    log.info({ host: options.host, port }, 'broker listening')
  }

  const connectHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host
  const url = port === undefined ? undefined : `mqtt://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${port}`
  let closing: Promise<void> | undefined

  return {
    aedes,
    options,
    port,
    url,
    connectInProcess () {
      if (aedes.closed || closing !== undefined) return refusedStream('the embedded broker is closed')
      const [clientSide, brokerSide] = duplexPair()
      track(brokerSide)
      aedes.handle(brokerSide)
      return clientSide
    },
    stats () {
      return { ...stats, clients: aedes.connectedClients }
    },
    close () {
      closing ??= (async () => {
        if (server !== undefined) {
          const srv = server
          await new Promise<void>((resolve) => {
            srv.close(() => { resolve() })
            // Stop accepting, then drop whatever is still open so close() cannot hang on a live client.
            for (const s of open) s.destroy()
          })
        }
        await new Promise<void>((resolve) => { aedes.close(() => { resolve() }) })
        for (const s of open) s.destroy()
        log.info('broker closed')
      })()
      return closing
    }
  }
}
