/**
 * How every HomeFleet client reaches a broker: a URL (`mqtt://host:port`, `ws://…`) for a broker over the network,
 * or a stream factory for the embedded broker's in-process transport (real MQTT packets over a duplex pair).
 * Devices, scenarios, the bridge and the CLI all connect through here, so a fleet runs unchanged against either.
 */
import { Socket } from 'node:net'
import { PassThrough, type Duplex } from 'node:stream'
import mqtt, { MqttClient, type IClientOptions } from 'mqtt'
import { FleetError } from './errors.ts'

/** Where to connect. `clientIdPrefix` is put before every client id made for this target (a fleet's namespace). */
export type BrokerTarget =
  | { url: string; username?: string; password?: string; clientIdPrefix?: string }
  | { stream: () => Duplex; label?: string; clientIdPrefix?: string }

export function describeTarget (target: BrokerTarget): string {
  return 'url' in target ? target.url : (target.label ?? 'embedded broker (in-process)')
}

/**
 * Create (and start connecting) an MQTT.js client to the target. The caller owns it and must `end()` it.
 *
 * Every TCP (and TLS) socket gets TCP_NODELAY: MQTT packets are small and a command waits for its reply, so Nagle's
 * algorithm plus delayed ACKs cost tens of milliseconds per round trip (a median 47 ms on the embedded broker,
 * 88 ms on mosquitto, against 4 ms without). MQTT.js has no option for it, so its stream builder is wrapped
 * before the first connect, which covers every reconnect too.
 */
export function createMqttClient (target: BrokerTarget, options: IClientOptions = {}): MqttClient {
  // Client ids are one namespace per broker: a second client with the same id takes the session over and the broker
  // closes the first [MQTT-3.1.4-2]. A target's prefix keeps two fleets with the same device ids apart.
  if (target.clientIdPrefix !== undefined && options.clientId !== undefined) options = { ...options, clientId: `${target.clientIdPrefix}${options.clientId}` }
  if ('url' in target) {
    const opts: IClientOptions = { ...options, manualConnect: true }
    if (target.username !== undefined) opts.username = target.username
    if (target.password !== undefined) opts.password = target.password
    const client = mqtt.connect(target.url, opts)
    // `streamBuilder` is private in MQTT.js's types but is the one place every (re)connect's socket is made.
    const internals = client as unknown as { streamBuilder: (c: MqttClient) => Duplex }
    const build = internals.streamBuilder
    internals.streamBuilder = (c) => {
      const stream = build(c)
      if (stream instanceof Socket) stream.setNoDelay(true)
      return stream
    }
    // MQTT.js reads manualConnect again in end(), where it keeps a manually connected client reconnecting: put the
    // caller's choice back.
    client.options.manualConnect = options.manualConnect === true
    if (options.manualConnect !== true) client.connect()
    return client
  }
  return new MqttClient(() => target.stream(), { protocolVersion: 4, ...options })
}

/** Reconnect pacing: the first retry after `initialMs`, doubling up to `maxMs`, each with ±`jitter` of itself. */
export interface BackoffOptions {
  initialMs?: number
  maxMs?: number
  /** Fraction of each delay drawn at random (0..1), so a fleet that lost its broker does not return in lock-step. */
  jitter?: number
  /** A number in [0, 1); default Math.random (devices pass their seeded stream). */
  random?: () => number
}

/**
 * Exponential reconnect backoff with jitter for an MQTT.js client, which only knows a fixed `reconnectPeriod`: the
 * period is set before each retry and reset once a connection is accepted. Returns a function that removes it.
 */
export function reconnectWithBackoff (client: MqttClient, options: BackoffOptions = {}): () => void {
  const initial = options.initialMs ?? 250
  const max = options.maxMs ?? 5000
  const jitter = options.jitter ?? 0.3
  const random = options.random ?? Math.random
  let attempt = 0
  const next = (): number => {
    const base = Math.min(max, initial * 2 ** Math.min(attempt, 20))
    return Math.max(1, Math.round(base * (1 - jitter + 2 * jitter * random())))
  }
  if (client.options.reconnectPeriod === 0) return () => undefined // reconnecting is off for this client
  client.options.reconnectPeriod = next()
  // MQTT.js's own 'close' listener (registered first) schedules the retry with the period set now; ours then sets
  // the one after it.
  const onClose = (): void => { attempt++; client.options.reconnectPeriod = next() }
  const onConnect = (): void => { attempt = 0; client.options.reconnectPeriod = next() }
  client.on('close', onClose)
  client.on('connect', onConnect)
  return () => { client.off('close', onClose); client.off('connect', onConnect) }
}

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized'
}

/**
 * Resolve on the first CONNACK that accepts the client; reject with FLEET_ERR_BROKER_REFUSED (a CONNACK refusal,
 * with its return code), or FLEET_ERR_BROKER_UNREACHABLE (socket error or no CONNACK within `timeoutMs`).
 */
export function waitConnected (client: MqttClient, target: BrokerTarget, timeoutMs = 10_000): Promise<void> {
  if (client.connected) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const where = describeTarget(target)
    const cleanup = (): void => {
      clearTimeout(timer)
      client.off('connect', onConnect)
      client.off('error', onError)
      client.off('end', onEnd)
    }
    // Ended while connecting (a stop during start): settle now instead of holding the process until the time-out.
    const onEnd = (): void => {
      cleanup()
      reject(new FleetError('FLEET_ERR_CLOSED', `the connection to ${where} was closed before it was accepted`))
    }
    const onConnect = (): void => { cleanup(); resolve() }
    const onError = (err: Error & { code?: string | number }): void => {
      cleanup()
      if (typeof err.code === 'number' && err.code in CONNACK_REASONS) {
        reject(new FleetError('FLEET_ERR_BROKER_REFUSED', `${where} refused the connection: ${CONNACK_REASONS[err.code]} (CONNACK ${err.code})`, { cause: err }))
      } else {
        reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot reach ${where}: ${err.message}`, { cause: err }))
      }
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `no answer from ${where} within ${timeoutMs} ms`))
    }, timeoutMs)
    client.on('connect', onConnect)
    client.on('error', onError)
    client.on('end', onEnd)
  })
}

/** End a client and wait until it has closed; never rejects. */
export function endClient (client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => { client.end(force, {}, () => { resolve() }) })
}

/**
 * A stream for a `BrokerTarget.stream` factory that must refuse: it fails on the next tick with ECONNREFUSED, like a
 * refused TCP connect. MQTT.js calls the factory from its reconnect timer, where a throw would be uncaught, and it
 * reports only stream errors that carry a `code` (others leave it waiting for its connect time-out).
 */
export function refusedStream (message: string): Duplex {
  const stream = new PassThrough()
  process.nextTick(() => { stream.destroy(Object.assign(new Error(message), { code: 'ECONNREFUSED' })) })
  return stream
}

/**
 * Did the broker refuse a subscription, as opposed to the connection going away before its SUBACK? A broker refuses
 * a filter with return code 0x80 in the SUBACK [MQTT-3.9.3-2] (MQTT 5: any reason code of 0x80 or more). MQTT.js 5
 * reports that as the subscribe callback's error, an `ErrorWithSubackPacket` carrying the SUBACK; its `granted`
 * argument then still shows the QoS that was asked for, so the error is the only place to look. A connection lost
 * while waiting fails with a plain error and no SUBACK.
 */
export function isSubscriptionRefused (err: unknown): boolean {
  // Duck-typed rather than `instanceof ErrorWithSubackPacket`, which a second copy of mqtt in the tree would defeat.
  const packet = (err as { packet?: { cmd?: unknown; granted?: unknown } } | null | undefined)?.packet
  if (packet?.cmd !== 'suback' || !Array.isArray(packet.granted)) return false
  return (packet.granted as unknown[]).some((code) => typeof code === 'number' && (code & 0x80) !== 0)
}
