/**
 * The embedded broker: aedes 1.x (MQTT 3.1.1 and 3.1) behind {@link createBroker}, with a TCP listener and an
 * in-process transport that carries real MQTT packets over a duplex stream pair.
 */
import { EventEmitter } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type ConnectPacket, type AedesPublishPacket, type PublishPacket, type Subscription } from 'aedes'
import { FleetError } from '../core/errors.ts'
import { IssueCollector, mergeOptions } from '../core/options.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import { refusedStream } from '../core/mqtt-connect.ts'
import { duplexPair } from './duplex-pair.ts'
import { indexRetained, type RetainedPersistence } from './retained-index.ts'
import { MessageRouter, type RouterStats } from './router.ts'
import { DeliveryCore, type DeliveryStats, type SubscriberStats } from './delivery.ts'
import { listenerNoDelay, trimConnection, withLeanParser } from './connection.ts'
import { ConnectPath, quietClientAnnouncements, type ConnectPersistence } from './connect.ts'
import { createRequire } from 'node:module'

// aedes-persistence is CommonJS whose typings declare an ESM default export; load it the way Node resolves it.
const memoryPersistence = createRequire(import.meta.url)('aedes-persistence') as () => RetainedPersistence

/** A connected client as hooks and events see it. */
export interface BrokerClient {
  /** The MQTT client identifier. */
  readonly id: string
}

/** A PUBLISH as hooks and events see it (read-only: hooks decide, they do not rewrite). */
export interface BrokerMessage {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: 0 | 1 | 2
  readonly retain: boolean
}

/** One topic filter of a SUBSCRIBE. */
export interface BrokerSubscription {
  readonly topic: string
  readonly qos: 0 | 1 | 2
}

/**
 * Access control and observation, as plain options with permissive defaults (aedes' hooks, typed, with results
 * instead of callbacks). A hook may answer synchronously (no promise is made on the hot path) or with a promise.
 * A hook that throws or rejects closes that client's connection, as MQTT 3.1.1 has no other way to refuse a PUBLISH.
 */
export interface BrokerHooks {
  /** May this client connect? `false` answers CONNACK 0x05, not authorized [MQTT-3.2.2-5]. */
  authenticate: ((client: BrokerClient, username: string | undefined, password: Buffer | undefined) => boolean | Promise<boolean>) | undefined
  /**
   * May this client publish this message? `false` closes the connection (MQTT 3.1.1 has no negative PUBACK).
   * `client` is null for messages the broker publishes itself (wills are checked with their client).
   */
  authorizePublish: ((client: BrokerClient | null, message: BrokerMessage) => boolean | Promise<boolean>) | undefined
  /** May this client subscribe to this filter? `false` refuses that filter only (SUBACK 0x80, [MQTT-3.9.3-2]). */
  authorizeSubscribe: ((client: BrokerClient, subscription: BrokerSubscription) => boolean | Promise<boolean>) | undefined
}

/** The broker's events, for {@link EmbeddedBroker.on}. */
export interface BrokerEvents {
  /** A client's CONNECT was accepted and its CONNACK sent. */
  clientConnect: [client: BrokerClient]
  /** A client's connection ended (DISCONNECT, error, time-out, or taken over by a new connection with its id). */
  clientDisconnect: [client: BrokerClient]
  /** Subscriptions granted to a client (refused filters carry qos 128). */
  subscribe: [subscriptions: BrokerSubscription[], client: BrokerClient]
  /** Filters a client unsubscribed from. */
  unsubscribe: [filters: string[], client: BrokerClient]
  /** A message was routed; `client` is null for the broker's own ($SYS, heartbeat). */
  publish: [message: BrokerMessage, client: BrokerClient | null]
}

export interface BrokerOptions extends BrokerHooks {
  /** TCP port; 0 picks a free one. Default 1883. */
  port: number
  /** Interface to listen on. Default 127.0.0.1 (loopback only); `0.0.0.0` for every interface. */
  host: string
  /** Open the TCP listener at all. With `false` only the in-process transport is available. Default true. */
  tcp: boolean
  /** Messages in flight through the router at once. Default 1000. */
  concurrency: number
  /** Seconds between `$SYS/<id>/heartbeat` publications. Default 60. */
  heartbeatInterval: number
  /** Milliseconds to wait for a slow client's socket to drain before dropping it. Default 30000. */
  drainTimeout: number
  /** Milliseconds to wait for CONNECT after a connection opens. Default 30000. */
  connectTimeout: number
  /**
   * Bytes queued for one subscriber above which its publishers wait for it to drain (ingress backpressure), unless
   * it is lagging. Default 65536 (64 KiB).
   */
  subscriberPauseBytes: number
  /** Bytes queued for one subscriber above which its QoS 0 messages are dropped and counted. Default 1048576 (1 MiB). */
  subscriberQueueBytes: number
  /**
   * In place of `subscriberQueueBytes`, for the subscribers with these client ids: a subscriber whose every message
   * matters more than the memory it may hold, such as a scenario run's own observer, whose losses would make the
   * run's verdict inconclusive. Default none.
   */
  subscriberQueueBytesById: Readonly<Record<string, number>>
  /** Bytes queued for one subscriber above which its QoS 1 and 2 messages are dropped and counted. Default 4194304 (4 MiB). */
  subscriberQos1QueueBytes: number
  /** Milliseconds a subscriber may go without draining before it is lagging and no longer holds publishers. Default 1000. */
  slowSubscriberMs: number
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
  subscriberPauseBytes: 64 * 1024,
  subscriberQueueBytes: 1024 * 1024,
  subscriberQueueBytesById: Object.freeze({}),
  subscriberQos1QueueBytes: 4 * 1024 * 1024,
  slowSubscriberMs: 1000,
  id: undefined,
  logger: silentLogger,
  authenticate: undefined,
  authorizePublish: undefined,
  authorizeSubscribe: undefined
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
  /** The message router: backlog, messages in flight, deliveries. */
  router: RouterStats
  /** Delivery to subscribers: messages written, dropped for full queues, publishers held, slow subscribers. */
  delivery: DeliveryStats
  /**
   * CONNECTs answered by the direct clean-session path (`direct`) and by aedes' own connect sequence (`aedes`:
   * persistent sessions, ids with queued messages, refusals by protocol level or id length).
   */
  connects: { direct: number; aedes: number }
}

export interface EmbeddedBroker {
  /**
   * The aedes instance underneath, for diagnostics only: it is not a stable interface. Use the options' hooks,
   * {@link EmbeddedBroker.on} and {@link EmbeddedBroker.stats}.
   */
  readonly aedes: Aedes
  readonly options: Readonly<BrokerOptions>
  /** The TCP port actually bound (useful with port 0), or undefined without a TCP listener. */
  readonly port: number | undefined
  /** `mqtt://host:port` for clients, or undefined without a TCP listener. */
  readonly url: string | undefined
  /** Open an in-process connection: the returned stream is the client's end; the broker holds the other. */
  connectInProcess (): Duplex
  /**
   * Serve a connection made by other means (a transport of one's own, the broker thread's channel): the stream is
   * the broker's end, as a socket accepted by its listener would be. Destroyed at once when the broker is closed.
   */
  acceptStream (stream: Duplex): void
  stats (): BrokerStats
  /** One connected subscriber's queue and drop counts, or undefined when no client with that id is connected. */
  subscriberStats (clientId: string): SubscriberStats | undefined
  /** True once {@link EmbeddedBroker.close} has been called. */
  readonly closed: boolean
  /** Publish a message as the broker (client null in hooks and events). Resolves once routed. */
  publish (message: { topic: string; payload: Buffer | string; qos?: 0 | 1; retain?: boolean }): Promise<void>
  /**
   * Drop a client's connection without a DISCONNECT, as a network cut would: its will is published
   * [MQTT-3.1.2-8]. False when no client with that id is connected.
   */
  disconnect (clientId: string): boolean
  on<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this
  once<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this
  off<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this
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
  // The pause threshold is at least a socket's default high-water mark (16 KiB), so a drain always follows a pause.
  c.integer('subscriberPauseBytes', given.subscriberPauseBytes, 16 * 1024, 1024 ** 3)
  c.integer('subscriberQueueBytes', given.subscriberQueueBytes, 1024, 1024 ** 3)
  const byId = given.subscriberQueueBytesById
  if (byId !== undefined) {
    if (typeof byId !== 'object' || byId === null || Array.isArray(byId)) c.add('subscriberQueueBytesById', 'must be an object of client id → bytes')
    else for (const [id, bytes] of Object.entries(byId)) c.integer(`subscriberQueueBytesById[${JSON.stringify(id)}]`, bytes, 1024, 1024 ** 3)
  }
  c.integer('subscriberQos1QueueBytes', given.subscriberQos1QueueBytes, 1024, 1024 ** 3)
  c.integer('slowSubscriberMs', given.slowSubscriberMs, 10, 3_600_000)
  if (given.tcp !== undefined && typeof given.tcp !== 'boolean') c.add('tcp', 'must be true or false')
  c.string('id', given.id)
  for (const hook of ['authenticate', 'authorizePublish', 'authorizeSubscribe'] as const) {
    if (given[hook] !== undefined && typeof given[hook] !== 'function') c.add(hook, 'must be a function')
  }
  c.throwIfAny('broker')
  return mergeOptions(defaultBrokerOptions, given)
}

/**
 * Run a hook and hand its answer to an aedes callback: synchronously when the hook answers synchronously (no promise
 * on the hot path), after the promise settles otherwise. A throw or a rejection is the callback's error.
 */
function settle<T> (run: () => T | Promise<T>, done: (err: Error | null, value: T | undefined) => void): void {
  let result: T | Promise<T>
  try { result = run() } catch (err) { done(toError(err), undefined); return }
  if (result instanceof Promise) {
    result.then((value) => { done(null, value) }, (err: unknown) => { done(toError(err), undefined) })
  } else {
    done(null, result)
  }
}

function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
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
  const router = new MessageRouter({ concurrency: options.concurrency })
  const delivery = new DeliveryCore({
    pauseBytes: options.subscriberPauseBytes,
    queueBytes: options.subscriberQueueBytes,
    queueBytesById: new Map(Object.entries(options.subscriberQueueBytesById)),
    qos1QueueBytes: options.subscriberQos1QueueBytes,
    slowMs: options.slowSubscriberMs
  })
  const persistence = indexRetained(memoryPersistence())
  // Clean sessions with nothing queued connect by a direct path (connect.ts); it watches the outgoing queues.
  const connectPath = new ConnectPath(persistence as unknown as ConnectPersistence)
  const hooks = { authenticate: options.authenticate, authorizePublish: options.authorizePublish, authorizeSubscribe: options.authorizeSubscribe }
  const aedesOptions: AedesOptions = {
    // With its own `mq` given, aedes reads `concurrency` only to set each connection's listener limit
    // (`concurrency * 2`: a `drain` listener per write in flight). Never below Node's default limit: a TCP socket has
    // three `end` listeners before its first packet (Node's, aedes', end-of-stream's), so `concurrency: 1` made every
    // connection raise a MaxListenersExceededWarning.
    concurrency: Math.max(options.concurrency, Math.ceil(EventEmitter.defaultMaxListeners / 2)),
    mq: router,
    heartbeatInterval: options.heartbeatInterval * 1000,
    drainTimeout: options.drainTimeout,
    connectTimeout: options.connectTimeout,
    // MQTT 3.1.1 lifts 3.1's 23-character limit; HomeFleet ids such as `home-0042-speaker-living-room` exceed it.
    maxClientsIdLength: 128,
    persistence,
    preConnect (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) {
      if (packet.clientId === '' && packet.clean === false) emptyIdPersistent.add(client)
      done(null, true)
    },
    authenticate (client: Client, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void) {
      if (emptyIdPersistent.has(client)) {
        log.debug('refused a zero-length client id with CleanSession=0 [MQTT-3.1.3-8]')
        done(refusal('identifier rejected: a zero-length client id requires CleanSession=1', 2), false)
        return
      }
      const hook = hooks.authenticate
      if (hook === undefined) { done(null, true); return }
      settle(() => hook(client, username, password), (err, ok) => {
        if (err !== null) done(refusal(`authentication failed: ${err.message}`, 5), false)
        else if (ok === true) done(null, true)
        else done(refusal('not authorized', 5), false)
      })
    }
  }
  if (hooks.authorizePublish !== undefined) {
    const hook = hooks.authorizePublish
    aedesOptions.authorizePublish = (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => {
      // aedes' default refuses client publications under $SYS/; a custom hook must not lift that.
      if (packet.topic.startsWith('$SYS/')) { done(new Error('$SYS/ topics are reserved')); return }
      settle(() => hook(client, packet as BrokerMessage), (err, ok) => {
        if (err !== null) done(err)
        else done(ok === true ? null : new Error(`not authorized to publish to ${packet.topic}`))
      })
    }
  }
  if (hooks.authorizeSubscribe !== undefined) {
    const hook = hooks.authorizeSubscribe
    aedesOptions.authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => {
      settle(() => hook(client, sub as BrokerSubscription), (err, granted) => {
        if (err !== null) done(err)
        else done(null, granted === true ? sub : null)
      })
    }
  }
  if (options.id !== undefined) aedesOptions.id = options.id
  const aedes = await Aedes.createBroker(aedesOptions)

  const stats: Omit<BrokerStats, 'router' | 'delivery' | 'connects'> = { clients: 0, connectionsTotal: 0, publishedIn: 0, clientErrors: 0, startedAt: Date.now() }
  aedes.on('publish', (_packet, client) => { if (client !== null) stats.publishedIn++ })
  aedes.on('clientError', (client, err) => {
    stats.clientErrors++
    log.debug({ clientId: client.id, err: err.message }, 'client error; connection closed')
  })
  aedes.on('connectionError', (client, err) => {
    stats.clientErrors++
    log.debug({ clientId: client.id, err: err.message }, 'connection error; connection closed')
  })
  // After the broker's own `publish` listener above: only listeners added later make the announcements wanted.
  quietClientAnnouncements(aedes, router)

  const open = new Set<Duplex>()
  /**
   * Every connection's one `close` listener, shared (no closure per connection): it closes the aedes client in place
   * of aedes' end-of-stream watcher (trimmed away by trimConnection), then forgets the stream and releases whatever
   * waited on it as a subscriber. aedes sets `conn.client`.
   */
  const onConnectionClose = function (this: Duplex & { client?: Client }): void {
    const client = this.client
    client?.close()
    open.delete(this)
    delivery.closed(client)
  }
  /** Hand a new connection to aedes, with the broker's delivery path and the trimmed per-connection state. */
  const accept = (stream: Duplex): void => {
    stats.connectionsTotal++
    open.add(stream)
    const client = withLeanParser(() => aedes.handle(stream))
    // The connect path first: it replaces a parser listener, which trimConnection's table compaction must see.
    connectPath.install(client)
    trimConnection(client)
    delivery.install(client)
    stream.on('close', onConnectionClose)
  }

  let server: Server | undefined
  let port: number | undefined
  if (options.tcp) {
    // TCP_NODELAY on every connection (a CONNACK or PUBACK is not held back by Nagle's algorithm). Linux copies it
    // from the listening socket to each accepted one, so there it is set once (see listenerNoDelay); elsewhere, and
    // if that failed, per socket.
    let inherited = false
    const srv = createServer((socket: Socket) => {
      if (!inherited) socket.setNoDelay(true)
      accept(socket)
    })
    server = srv
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject)
        // A backlog of 4096 (the kernel caps it at net.core.somaxconn) rather than Node's 511: a fleet connecting all
        // at once overflows a short one, and every SYN it drops costs that client a 1 s retransmission.
        srv.listen({ port: options.port, host: options.host, backlog: 4096 }, () => { srv.off('error', reject); resolve() })
      })
    } catch (err) {
      await new Promise<void>((resolve) => { aedes.close(() => { resolve() }) })
      const code = (err as NodeJS.ErrnoException).code
      const where = `${options.host}:${options.port}`
      if (code === 'EADDRINUSE') throw new FleetError('FLEET_ERR_PORT_IN_USE', `port ${options.port} on ${options.host} is already in use (choose another with --port, or --port 0 for any free port)`, { cause: err })
      throw new FleetError('FLEET_ERR_LISTEN', `cannot listen on ${where}: ${(err as Error).message}`, { cause: err })
    }
    srv.on('error', (err) => { log.error({ err }, 'listener error') })
    inherited = listenerNoDelay(srv)
    const addr = srv.address()
    port = typeof addr === 'object' && addr !== null ? addr.port : undefined
    log.info({ host: options.host, port }, 'broker listening')
  }

  const connectHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host
  const url = port === undefined ? undefined : `mqtt://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${port}`
  let closing: Promise<void> | undefined

  // Events are forwarded from aedes; `publish` only while someone listens, as it fires once per message.
  const events = new EventEmitter()
  aedes.on('clientReady', (client) => { events.emit('clientConnect', client) })
  aedes.on('clientDisconnect', (client) => { events.emit('clientDisconnect', client) })
  aedes.on('subscribe', (subs, client) => { events.emit('subscribe', subs, client) })
  aedes.on('unsubscribe', (filters, client) => { events.emit('unsubscribe', filters, client) })
  const forwardPublish = (packet: AedesPublishPacket, client: Client | null): void => { events.emit('publish', packet, client) }
  events.on('newListener', (event: string) => {
    if (event === 'publish' && events.listenerCount('publish') === 0) aedes.on('publish', forwardPublish)
  })
  events.on('removeListener', (event: string) => {
    if (event === 'publish' && events.listenerCount('publish') === 0) aedes.off('publish', forwardPublish)
  })

  const clientById = (clientId: string): Client | undefined => (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[clientId]

  const broker: EmbeddedBroker = {
    aedes,
    options,
    port,
    url,
    get closed () { return closing !== undefined },
    publish (message) {
      return new Promise<void>((resolve, reject) => {
        const payload = typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload
        aedes.publish({ cmd: 'publish', topic: message.topic, payload, qos: message.qos ?? 0, retain: message.retain ?? false, dup: false }, (err?: Error | null) => {
          if (err !== undefined && err !== null) reject(err)
          else resolve()
        })
      })
    },
    disconnect (clientId) {
      const client = clientById(clientId)
      if (client === undefined) return false
      client.conn.destroy()
      return true
    },
    on (event, listener) { events.on(event, listener as (...args: unknown[]) => void); return broker },
    once (event, listener) { events.once(event, listener as (...args: unknown[]) => void); return broker },
    off (event, listener) { events.off(event, listener as (...args: unknown[]) => void); return broker },
    connectInProcess () {
      if (aedes.closed || closing !== undefined) return refusedStream('the embedded broker is closed')
      const [clientSide, brokerSide] = duplexPair()
      accept(brokerSide)
      return clientSide
    },
    acceptStream (stream) {
      if (aedes.closed || closing !== undefined) { stream.destroy(); return }
      accept(stream)
    },
    stats () {
      return { ...stats, clients: aedes.connectedClients, router: router.stats(), delivery: delivery.stats(), connects: { direct: connectPath.fast, aedes: connectPath.delegated } }
    },
    subscriberStats (clientId) {
      const client = clientById(clientId)
      return client === undefined ? undefined : delivery.subscriberStats(client)
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
        delivery.close()
        log.info('broker closed')
      })()
      return closing
    }
  }
  return broker
}
