/**
 * The connect path: what a CONNECT costs the broker.
 *
 * aedes 1.x answers every CONNECT with nine steps run through `runSeries`, a `setImmediate` before the first and a
 * promise or two in most; the last step (`emptyQueue`) pipes the persistence's queue of outgoing messages for that
 * client through a Transform with `stream.pipeline` (and its AbortController) even when, as for every clean session,
 * there is nothing to send. It then publishes `$SYS/<broker>/new/clients`, routed like any message though nobody
 * usually subscribes. A CPU profile of a connect storm spent more of the broker's time there than in anything else
 * but the CONNACK's own syscall. Here:
 *
 * - **a clean session whose client id has nothing queued** ({@link ConnectPath.connectsFast}) takes a direct path
 *   that does what aedes' steps do for it, in the same order (pre-connect hook, authenticate, keep-alive timer, drop
 *   the id's stored subscriptions [MQTT-3.1.2-6], replace its will, register, which takes over a connection with the
 *   same id [MQTT-3.1.4-2], drop its inbound QoS 2 state, CONNACK), with promises only where the persistence answers
 *   with one, no `setImmediate`, no stream, and the CONNACK written as one 4-byte buffer. Everything else (persistent
 *   sessions, a clean session for an id with queued messages, a protocol level or id aedes refuses, a second CONNECT)
 *   goes to aedes' own handler unchanged;
 * - **`$SYS/<broker>/new/clients` and `…/disconnect/clients`** are published only when something would see them: a
 *   subscription matching the topic (other than aedes' own, which acts only on other brokers' ids) or a listener of
 *   the broker's `publish` event ({@link quietClientAnnouncements}).
 *
 * Both reach into aedes 1.x internals (lib/client.js, lib/handlers/connect.js, aedes.js); each checks the shape it
 * expects and leaves aedes' own path in place when it differs, so an upgrade that changes them costs speed, not
 * correctness.
 */
import { randomUUID } from 'node:crypto'
import { Socket } from 'node:net'
import type { Aedes, Client } from 'aedes'

/** The fields of an mqtt-packet CONNECT the connect path reads. */
interface ConnectPacket {
  cmd: string
  clientId: string
  clean: boolean
  protocolVersion: number
  keepalive: number
  username?: string
  password?: Buffer
  will?: unknown
  bridgeMode?: boolean
}

/** The persistence methods the clean-session path calls (aedes-persistence's promise forms). */
export interface ConnectPersistence {
  cleanSubscriptions (client: Client): Promise<unknown>
  delWill (client: Client): Promise<unknown>
  putWill (client: Client, will: unknown): Promise<unknown>
  cleanIncoming?: ((client: Client) => Promise<unknown>) | undefined
  outgoingEnqueue (sub: { clientId: string }, packet: unknown, cb?: unknown): unknown
  outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: unknown, cb?: unknown): unknown
}

type Callback = (err?: Error | null) => void

/** aedes' broker as the connect path uses it (aedes.js). */
interface BrokerInternals {
  closed: boolean
  persistence: ConnectPersistence
  maxClientsIdLength: number
  keepaliveLimit: number
  preConnect (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void
  authenticate (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: (Error & { returnCode?: number }) | null, ok: boolean | null) => void): void
  registerClient (client: Client): void
  emit (event: string, ...args: unknown[]): boolean
  listenerCount (event: string): number
}

/** aedes' per-connection Client as the connect path uses it (lib/client.js). */
interface ClientInternals {
  broker: BrokerInternals
  conn: NodeJS.WritableStream & { destroyed: boolean }
  id: string | null
  clean: boolean
  version: number | null
  will: unknown
  _will: unknown
  closed: boolean
  connecting: boolean
  connected: boolean
  connackSent: boolean
  _authorized: boolean
  _connectTimer: NodeJS.Timeout | null
  _keepaliveTimer: NodeJS.Timeout | null
  _keepaliveInterval: number
  _parsingBatch: number
  _nextBatch: Callback
  _parser: ParserInternals
  pause (): void
  resume (): void
  close (done?: () => void): void
  emit (event: string, ...args: unknown[]): boolean
}

interface ParserInternals {
  client: ClientInternals
  listeners (event: string): Array<(...args: never[]) => unknown>
  removeListener (event: string, listener: (...args: never[]) => unknown): unknown
  on (event: string, listener: (this: ParserInternals, packet: ConnectPacket) => void): unknown
}

type Enqueue = (this: ParserInternals, packet: ConnectPacket) => void

/** CONNACK, session not present, connection accepted: the same four bytes for every clean session. */
const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00])

/** What mqtt-packet's parser reads of its `settings` once connected, per protocol level (read-only). */
const PARSER_SETTINGS = { 3: Object.freeze({ protocolVersion: 3 }), 4: Object.freeze({ protocolVersion: 4 }) } as const

/** aedes' wording of each CONNACK refusal (lib/handlers/connect.js). */
const REFUSALS = ['', 'unacceptable protocol version', 'identifier rejected', 'Server unavailable', 'bad user name or password', 'not authorized', 'keep alive limit exceeded']

/** [MQTT-3.1.2-24]: one and a half keep-alive periods without a packet close the connection (aedes' wording). */
function keepaliveTimeout (client: ClientInternals): void {
  client.broker.emit('keepaliveTimeout', client)
  client.emit('error', new Error('keep alive timeout'))
}

/** The connect path of one broker: see the module comment. */
export class ConnectPath {
  /** Clean-session CONNECTs answered by the direct path, and the ones handed to aedes' own handler. */
  fast = 0
  delegated = 0
  /** Client ids for which the persistence was handed an outgoing message: they may have a queue to empty. */
  private readonly queuedFor = new Set<string>()
  /** aedes' parser `packet` listener (lib/client.js `enqueue`), the same function for every client. */
  private enqueue: Enqueue | undefined = undefined
  /** The listener that replaces it: one function for every connection of this broker. */
  private readonly onPacket: Enqueue

  constructor (persistence: ConnectPersistence) {
    // Watch what enters the outgoing queues (the memory persistence keeps them for good): an id seen here takes
    // aedes' path, which empties its queue.
    const enqueue = persistence.outgoingEnqueue.bind(persistence)
    const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence)
    persistence.outgoingEnqueue = (sub, packet, cb) => { this.queuedFor.add(sub.clientId); return enqueue(sub, packet, cb) }
    persistence.outgoingEnqueueCombi = (subs, packet, cb) => {
      for (const sub of subs) this.queuedFor.add(sub.clientId)
      return enqueueCombi(subs, packet, cb)
    }
    this.onPacket = ConnectPath.listenerFor(this)
  }

  /** The parser `packet` listener of a broker's connections (`this` is the parser, as aedes' `enqueue` expects). */
  private static listenerFor (path: ConnectPath): Enqueue {
    return function onPacket (this: ParserInternals, packet: ConnectPacket): void {
      const client = this.client
      if (packet.cmd === 'connect' && client._parsingBatch === 0 && path.connectsFast(client, packet)) {
        // What aedes' `enqueue` does for the first packet, then the direct path instead of `handle`.
        client._parsingBatch = 1
        path.fast++
        path.connect(client, packet)
        return
      }
      if (packet.cmd === 'connect') path.delegated++
      ;(path.enqueue as Enqueue).call(this, packet)
    }
  }

  /**
   * Route a new client's CONNECT through this path: replaces its parser's `packet` listener, aedes' `enqueue`, with
   * one that takes the direct path or calls `enqueue`. False (and the client untouched) when the shape differs.
   */
  install (aedesClient: Client): boolean {
    const client = aedesClient as unknown as ClientInternals
    const parser = client._parser as ParserInternals | undefined
    if (parser === undefined || typeof parser.listeners !== 'function' || parser.client !== client) return false
    if (typeof client._nextBatch !== 'function' || typeof client.pause !== 'function' || client._parsingBatch !== 1 || client.connecting || client.connected) return false
    const listeners = parser.listeners('packet')
    const enqueue = listeners[0] as Enqueue | undefined
    if (listeners.length !== 1 || enqueue === undefined || enqueue.name !== 'enqueue') return false
    if (this.enqueue === undefined) this.enqueue = enqueue
    else if (this.enqueue !== enqueue) return false
    parser.removeListener('packet', enqueue)
    parser.on('packet', this.onPacket)
    return true
  }

  /**
   * Whether this CONNECT can take the direct path: a clean session, a protocol level and client id aedes accepts, a
   * keep-alive within the broker's limit, nothing queued for the id, and the client still waiting for its first
   * CONNECT. Anything else is aedes' to answer (refusals included).
   */
  connectsFast (client: ClientInternals, packet: ConnectPacket): boolean {
    if (packet.clean !== true || client.connecting || client.connected || client.connackSent || client.closed) return false
    const broker = client.broker
    if (packet.protocolVersion !== 4 && !(packet.protocolVersion === 3 && packet.clientId.length <= broker.maxClientsIdLength)) return false
    if (broker.keepaliveLimit > 0 && (!(packet.keepalive > 0) || packet.keepalive > broker.keepaliveLimit)) return false
    return packet.clientId === '' || !this.queuedFor.has(packet.clientId)
  }

  /** aedes' `handleConnect` and `init` for an accepted clean session, without the `setImmediate`. */
  private connect (client: ClientInternals, packet: ConnectPacket): void {
    if (client._connectTimer !== null) clearTimeout(client._connectTimer)
    client._connectTimer = null
    client.connecting = true
    client.broker.preConnect(client as unknown as Client, packet, (err, ok) => {
      if (err === null && ok === true) { this.authenticate(client, packet); return }
      client.connecting = false
      client._nextBatch(err)
    })
  }

  private authenticate (client: ClientInternals, packet: ConnectPacket): void {
    // mqtt-packet's parser keeps the whole CONNECT as its `settings`, of which it reads only `protocolVersion` (and
    // `bridgeMode`): a shared object per level lets the packet go.
    const parser = client._parser as ParserInternals & { settings?: unknown }
    if (parser.settings === packet && packet.bridgeMode !== true) parser.settings = PARSER_SETTINGS[packet.protocolVersion as 3 | 4]
    client.id = packet.clientId === '' ? 'aedes_' + randomUUID() : packet.clientId
    client.clean = true
    client.version = packet.protocolVersion
    client._will = packet.will
    client.pause()
    const broker = client.broker
    broker.authenticate(client as unknown as Client, packet.username, packet.password, (err, ok) => {
      // As aedes: a connection or broker closed while the hook ran is not registered.
      if (client.closed || broker.closed) return
      if (err === null && ok === true) {
        client._authorized = true
        this.accepted(client, packet).catch((e: unknown) => { this.failed(client, e) })
        return
      }
      // [MQTT-3.2.2-5]: a refusal is answered with its CONNACK, then the connection is closed.
      const code = err?.returnCode
      const returnCode = code !== undefined && code >= 2 && code <= 5 ? code : 5
      const error: Error & { errorCode?: number } = err ?? new Error(REFUSALS[returnCode])
      if (error.message === '') error.message = REFUSALS[returnCode] as string
      error.errorCode = returnCode
      this.writeConnack(client, returnCode)
      client.close(() => { client.connecting = false; client._nextBatch(error) })
    })
  }

  /** Steps 2–9 of aedes' connect sequence for an authenticated clean session. */
  private async accepted (client: ClientInternals, packet: ConnectPacket): Promise<void> {
    if (packet.keepalive > 0) {
      client._keepaliveInterval = packet.keepalive * 1500 + 1
      client._keepaliveTimer = setTimeout(keepaliveTimeout, client._keepaliveInterval, client)
    }
    const broker = client.broker
    const persistence = broker.persistence
    const c = client as unknown as Client
    // [MQTT-3.1.2-6]: a clean session discards the id's stored subscriptions; its will replaces any stored one.
    const cleaned = persistence.cleanSubscriptions(c)
    client.will = client._will
    const willDropped = persistence.delWill(c)
    await cleaned
    try { await willDropped } catch { /* as aedes: a will that cannot be deleted is replaced anyway */ }
    if (client.will !== null && client.will !== undefined) await persistence.putWill(c, client.will)
    if (client.closed || broker.closed) return
    // Takes over a connection with the same id [MQTT-3.1.4-2].
    broker.registerClient(c)
    // After registerClient, so an inbound QoS 2 message stored by the connection taken over is wiped too.
    if (typeof persistence.cleanIncoming === 'function') await persistence.cleanIncoming(c)
    if (client.closed) return
    this.writeConnack(client, 0)
    client.resume()
    client.connecting = false
    client.connected = true
    broker.emit('clientReady', client)
    client.emit('connected')
    client._nextBatch()
  }

  /** As aedes' connect sequence ending with an error: the error closes the connection. */
  private failed (client: ClientInternals, err: unknown): void {
    client.connecting = false
    client._nextBatch(err instanceof Error ? err : new Error(String(err)))
  }

  private writeConnack (client: ClientInternals, returnCode: number): void {
    const conn = client.conn
    if (!conn.destroyed) {
      // A socket copies nothing and changes nothing: one buffer serves every connection. Another stream (the
      // in-process pair hands chunks to its peer as they are) gets its own.
      const bytes = returnCode === 0 && conn instanceof Socket ? CONNACK_ACCEPTED : Buffer.from([0x20, 0x02, 0x00, returnCode])
      conn.write(bytes)
    }
    client.connackSent = true
    if (client.broker.listenerCount('connackSent') > 0) client.broker.emit('connackSent', { cmd: 'connack', returnCode, sessionPresent: false }, client)
  }
}

/** The router's side of {@link quietClientAnnouncements}: the listeners a topic would reach. */
export interface RouteMatcher {
  listenersOf (topic: string): ReadonlyArray<unknown>
  /** Changes whenever a subscription is added or removed. */
  readonly revision: number
}

/**
 * Publish aedes' per-client announcements (`$SYS/<broker>/new/clients`, `…/disconnect/clients`, QoS 0, not retained)
 * only when something would see them: a subscription matching the topic other than those aedes itself made at start
 * (its `closeSameClients` acts on other brokers' ids only), or a `publish` listener on aedes beyond the ones present
 * now. False when aedes' `publish` is not the method expected.
 */
export function quietClientAnnouncements (aedes: Aedes, router: RouteMatcher): boolean {
  const broker = aedes as unknown as { id: string; publish: unknown; listenerCount: (event: string) => number }
  const publish = broker.publish
  if (typeof publish !== 'function') return false
  const topics = [`$SYS/${broker.id}/new/clients`, `$SYS/${broker.id}/disconnect/clients`]
  const own = new Set<unknown>()
  for (const t of topics) for (const l of router.listenersOf(t)) own.add(l)
  const publishListeners = broker.listenerCount('publish')
  // Whether each topic has a subscriber of its own, as of the router's revision `seenAt` (one look-up per change of
  // the subscriptions, not one per connection).
  let seenAt = -1
  const subscribed = [false, false]
  const wanted = (topic: string): boolean => {
    if (broker.listenerCount('publish') > publishListeners) return true
    if (seenAt !== router.revision) {
      seenAt = router.revision
      for (let i = 0; i < topics.length; i++) subscribed[i] = router.listenersOf(topics[i] as string).some((l) => !own.has(l))
    }
    return subscribed[topic === topics[0] ? 0 : 1] as boolean
  }
  broker.publish = function quietPublish (this: Aedes, packet: { topic: string; qos?: number; retain?: boolean }, client: unknown, done?: Callback): unknown {
    if ((packet.qos ?? 0) === 0 && packet.retain !== true && (packet.topic === topics[0] || packet.topic === topics[1]) && !wanted(packet.topic)) {
      const cb = typeof client === 'function' ? client as Callback : done
      if (cb !== undefined) process.nextTick(cb)
      return undefined
    }
    return (publish as (...args: unknown[]) => unknown).call(this, packet, client, done)
  }
  return true
}
