/**
 * How every HomeFleet client reaches a broker: a URL (`mqtt://host:port`, `ws://…`) for a broker over the network,
 * or a stream factory for the embedded broker's in-process transport (real MQTT packets over a duplex pair).
 * Devices, scenarios, the bridge and the CLI all connect through here, so a fleet runs unchanged against either.
 */
import { PassThrough, type Duplex } from 'node:stream'
import mqtt, { MqttClient, type IClientOptions } from 'mqtt'
import { FleetError } from './errors.ts'

export type BrokerTarget =
  | { url: string; username?: string; password?: string }
  | { stream: () => Duplex; label?: string }

export function describeTarget (target: BrokerTarget): string {
  return 'url' in target ? target.url : (target.label ?? 'embedded broker (in-process)')
}

/** Create (and start connecting) an MQTT.js client to the target. The caller owns it and must `end()` it. */
export function createMqttClient (target: BrokerTarget, options: IClientOptions = {}): MqttClient {
  if ('url' in target) {
    const opts: IClientOptions = { ...options }
    if (target.username !== undefined) opts.username = target.username
    if (target.password !== undefined) opts.password = target.password
    const client = mqtt.connect(target.url, opts)
    // Small request/response packets: with Nagle's algorithm a reply can wait for the ACK of the previous packet,
    // which a delayed ACK holds ~40 ms, and that dominated command round trips (the broker's sockets set it too).
    client.on('connect', () => { (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true) })
    return client
  }
  return new MqttClient(() => target.stream(), { protocolVersion: 4, ...options })
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
