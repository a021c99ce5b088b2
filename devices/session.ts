/**
 * A device's MQTT session: one MQTT.js client and its lifecycle (connect, subscriptions, then retained `online`, with
 * a last will `offline`; publish, reconnects, a reboot, a graceful or abrupt stop) and the device's log lines.
 * It knows nothing of what the device simulates: the device (devices/device.ts) hands it the filters to subscribe
 * and gets told when it is connected and what arrives.
 */
import type { MqttClient } from 'mqtt'
import type { LogLevel, Logger } from '../core/logger.ts'
import { LOG_LEVELS } from '../core/logger.ts'
import { STATUS_OFFLINE, STATUS_ONLINE } from '../core/topics.ts'
import { createMqttClient, describeTarget, endClient, isSubscriptionRefused, reconnectWithBackoff, waitConnected } from '../core/mqtt-connect.ts'
import { FleetError } from '../core/errors.ts'
import type { DeviceRuntime } from './device.ts'
import type { Random } from '../core/random.ts'

/** What the session calls back into its device. */
export interface SessionHooks {
  /** The device's logger, made on first use (see Device.logger). */
  logger: () => Logger
  /**
   * Connected (first time, after a reconnect, after a reboot) and subscribed: publish what a fresh subscriber needs.
   * `online` follows.
   */
  connected: () => void
  /** The filters to subscribe on each connect. */
  filters: () => string[]
  /** A message on one of the filters. Must not throw. */
  message: (topic: string, payload: Buffer) => void
  /** Counted for each message handed to the client. */
  published: () => void
  /** A lost connection made again (not a deliberate reboot). */
  reconnected: () => void
  /** A message given up while offline. */
  dropped: () => void
}

const MQTTJS_DEBUG = /mqttjs/.test(process.env.DEBUG ?? '')
function noop (): void {}
/**
 * QoS 1 messages (events, replies) a device keeps while its connection is down and sends when it is back; past this
 * the oldest is dropped and counted. MQTT.js's own offline queue has no bound: a device offline for an hour would
 * hold an hour of messages.
 */
export const OFFLINE_QUEUE_LIMIT = 100

/** Reconnect pacing: 0.5 s doubling to 10 s, ±30 % jitter from the device's seeded stream (a fleet does not return in lock-step). */
const RECONNECT_BACKOFF = { initialMs: 500, maxMs: 10_000, jitter: 0.3 } as const

const LEVEL_INDEX: Record<string, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i]))

/** Publish options by QoS, then retain (0 or 1): made once, not per message. */
const PUBLISH_OPTIONS = [
  [Object.freeze({ qos: 0, retain: false }), Object.freeze({ qos: 0, retain: true })],
  [Object.freeze({ qos: 1, retain: false }), Object.freeze({ qos: 1, retain: true })]
] as const

/** How long a graceful stop waits for the broker to acknowledge `offline` before dropping the connection. */
const STOP_ACK_TIMEOUT_MS = 2000

export class DeviceSession {
  readonly id: string
  private readonly runtime: DeviceRuntime
  private readonly hooks: SessionHooks
  private readonly statusTopic: string
  private readonly logTopic: string
  private readonly publishLevel: number
  private client: MqttClient | undefined
  private stopped = false
  private settleSubscribed: ((err?: Error) => void) | undefined
  /** The client whose SUBSCRIBE has not been answered yet (MQTT.js's graceful end would wait for that SUBACK). */
  private awaitingSuback: MqttClient | undefined
  /** Aborts the offline wait of a reboot when the device is stopped meanwhile. */
  private rebooting: AbortController | undefined
  /** QoS 1 messages waiting for the connection to come back (bounded by OFFLINE_QUEUE_LIMIT). */
  private readonly offline: Array<{ topic: string; payload: string | Buffer }> = []
  /** Jitter for reconnects, from the fleet's seed: the same run reconnects the same way. */
  private readonly jitter: Random

  constructor (id: string, runtime: DeviceRuntime, hooks: SessionHooks) {
    this.id = id
    this.runtime = runtime
    this.hooks = hooks
    this.statusTopic = runtime.topics.status(id)
    this.logTopic = runtime.topics.log(id)
    const pl = runtime.publishLogLevel ?? 'info'
    this.publishLevel = pl === 'silent' ? Infinity : LEVEL_INDEX[pl] ?? 2
    this.jitter = runtime.random.fork(`${id}/reconnect`)
  }

  get connected (): boolean { return this.client?.connected === true }
  /**
   * The client's stream holds more than its high-water mark (a `write()` returned false and `drain` has not come):
   * the broker or the network is not keeping up. MQTT.js would queue whatever is published meanwhile.
   */
  get backedUp (): boolean { return this.client?.stream.writableNeedDrain === true }
  /**
   * {@link connected} and {@link backedUp} in one look at the client, for the telemetry tick: 0 not connected,
   * 1 connected but backed up, 2 ready to send. (MQTT.js clients keep their properties in a dictionary after the
   * CONNACK, so each read of `client.connected` or `client.stream` is a hash lookup; a tick does one of each.)
   */
  get sendState (): 0 | 1 | 2 {
    const client = this.client
    if (client === undefined || !client.connected) return 0
    return client.stream.writableNeedDrain ? 1 : 2
  }

  /** Started and not stopped (connected or not). */
  get active (): boolean { return this.client !== undefined }
  /** Stopped on purpose: publish errors are expected, not worth a log line. */
  get isStopped (): boolean { return this.stopped }

  /**
   * Connect, subscribe, announce. Resolves once the subscriptions are acknowledged and the broker has `online` (after
   * the device's state); rejects with FLEET_ERR_BROKER_*.
   */
  async start (): Promise<void> {
    if (this.client !== undefined) return
    this.stopped = false
    const client = createMqttClient(this.runtime.target, {
      clientId: this.id,
      clean: true,
      // In-process there is no network to fail: a dead peer closes the stream pair and the broker publishes the will
      // at once. Keep-alive would only cost two timers per device (client and broker side) and a PINGREQ/PINGRESP per
      // device a minute (1,700 a second at 100,000 devices), so it is off there unless asked for.
      keepalive: this.runtime.keepalive ?? ('stream' in this.runtime.target ? 0 : 60),
      reconnectPeriod: 1000,
      connectTimeout: this.runtime.connectTimeoutMs ?? 30_000,
      // The session subscribes on every connect itself (onConnect) and announces `online` on the SUBACK. MQTT.js's own
      // resubscription would send the SUBSCRIBE and make ours a no-op answered at once, before any SUBACK: `online`
      // would then go out while the broker has no subscription for us, and a command sent on it would be lost.
      resubscribe: false,
      // MQTT.js logs every packet through `debug`; even disabled, those calls cost CPU on every publish of every
      // device (docs/benchmarks.md). Off unless DEBUG asks for MQTT.js.
      ...(MQTTJS_DEBUG ? {} : { log: noop }),
      // Nothing is handed to MQTT.js while offline (see publish), so its unbounded queue stays empty.
      queueQoSZero: false,
      // The broker publishes this if we vanish without DISCONNECT [MQTT-3.1.2-8]; retained so late subscribers see it.
      will: { topic: this.statusTopic, payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true }
    })
    this.client = client
    reconnectWithBackoff(client, { ...RECONNECT_BACKOFF, random: this.jitter.next.bind(this.jitter) })
    let connects = 0
    client.on('connect', () => { if (connects++ > 0) this.hooks.reconnected() })
    client.on('message', (topic, payload) => { this.hooks.message(topic, payload) })
    // start() resolves only once the subscriptions are acknowledged, so a command sent right after start() cannot
    // be lost [MQTT-3.8.4-1]: the broker must SUBACK before a publish to the new subscription is routed to us.
    // It waits for the broker's PUBACK of `online` too, so the device's announcement is on the broker by then.
    // A refused subscription (SUBACK 0x80, e.g. a broker ACL), a stop() meanwhile, or no SUBACK or PUBACK in time
    // rejects.
    const timeoutMs = this.runtime.connectTimeoutMs ?? 30_000
    const subscribed = new Promise<void>((resolve, reject) => {
      this.settleSubscribed = (err) => { if (err === undefined) resolve(); else reject(err) }
    })
    // A stop() while we still wait for the CONNACK below rejects `subscribed` before anything awaits it: mark it
    // handled now so that is not an unhandled rejection. The race below still sees the rejection.
    subscribed.catch(() => undefined)
    client.on('connect', () => { this.onConnect(client) })
    client.on('error', (err) => { this.debug('mqtt error', { err: err.message }) })
    let timer: NodeJS.Timeout | undefined
    try {
      await waitConnected(client, this.runtime.target, timeoutMs)
      await Promise.race([subscribed, new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${this.id}: no SUBACK, or no PUBACK for its online status, from ${describeTarget(this.runtime.target)} within ${timeoutMs} ms`)) }, timeoutMs)
      })])
    } catch (err) {
      this.settleSubscribed = undefined
      if (this.client === client) this.client = undefined
      await endClient(client, true)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Each (re)connect: subscribe, and only once the broker has acknowledged the subscriptions announce the device: its
   * current state (info, reported: republished whole, so nothing retained is queued), then `online`, then what waited
   * offline. With a clean session the broker holds no subscription for us between the CONNACK and the SUBACK, and a
   * command published then goes to nobody; a controller that sends once it sees `online` (or sends again then, as the
   * scenario runner does) reaches the device [MQTT-3.8.4-1], and has its state already. start() settles on the
   * broker's PUBACK for `online`. A refused subscription leaves the device connected but not announced, with an error
   * logged; a connection lost before the SUBACK is retried by the next connect.
   */
  private onConnect (client: MqttClient): void {
    const filters = this.hooks.filters()
    this.awaitingSuback = client
    // The start() waiting on this connection, if any: a later start() (after a reboot) has its own.
    const settleStart = this.settleSubscribed
    const settle = (problem?: FleetError): void => {
      if (settleStart === undefined || this.settleSubscribed !== settleStart) return
      this.settleSubscribed = undefined
      settleStart(problem)
    }
    client.subscribe(filters, { qos: 1 }, (err) => {
      if (this.awaitingSuback === client) this.awaitingSuback = undefined
      if (err !== null && err !== undefined) {
        let problem: FleetError
        if (isSubscriptionRefused(err)) {
          problem = new FleetError('FLEET_ERR_BROKER_REFUSED', `${this.id}: the broker refused the subscription to ${filters.join(', ')}: ${err.message}`, { cause: err })
          this.log('error', 'subscribe refused', { err: problem.message })
        } else {
          // No SUBACK: the connection went away meanwhile (a reconnect subscribes again).
          problem = new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${this.id}: no SUBACK for ${filters.join(', ')}: ${err.message}`, { cause: err })
          this.log('warn', 'subscribe interrupted', { err: problem.message })
        }
        settle(problem)
        return
      }
      if (this.client !== client || this.stopped) return
      this.hooks.connected()
      this.hooks.published()
      client.publish(this.statusTopic, STATUS_ONLINE, PUBLISH_OPTIONS[1][1], (perr) => {
        settle(perr === undefined || perr === null ? undefined : new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${this.id}: no PUBACK for its online status: ${perr.message}`, { cause: perr }))
      })
      for (const m of this.offline.splice(0)) this.publish(m.topic, m.payload, 1, false)
    })
  }

  /**
   * Disconnect. Graceful by default: publishes `offline` (a clean DISCONNECT suppresses the will [MQTT-3.1.2-10]).
   * With `{ graceful: false }` the connection is dropped and the broker sends the will.
   */
  async stop (options: { graceful?: boolean } = {}): Promise<void> {
    this.stopped = true
    this.rebooting?.abort()
    const settle = this.settleSubscribed
    this.settleSubscribed = undefined
    settle?.(new FleetError('FLEET_ERR_CLOSED', `${this.id} was stopped while starting`))
    await this.disconnect(options.graceful !== false)
  }

  private async disconnect (graceful: boolean): Promise<void> {
    const client = this.client
    this.client = undefined
    if (client === undefined) return
    if (!graceful) {
      client.stream.destroy()
      await endClient(client, true)
      return
    }
    // Graceful, but bounded: a broker that stopped answering must not hold stop() (and a fleet's stop) forever.
    let acked = false
    if (client.connected) {
      acked = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { resolve(false) }, STOP_ACK_TIMEOUT_MS)
        client.publish(this.statusTopic, STATUS_OFFLINE, { qos: 1, retain: true }, (err) => { clearTimeout(timer); resolve(err === undefined || err === null) })
      })
    }
    // A SUBSCRIBE still unanswered would hold a graceful end for good (MQTT.js waits for every acknowledgement).
    const unanswered = this.awaitingSuback === client
    if (unanswered) this.awaitingSuback = undefined
    await endClient(client, !acked || unanswered)
  }

  /**
   * Go offline gracefully, wait `offlineMs` of clock time, connect again. `beforeReconnect` runs just before the
   * new connection (a new firmware version is set there, so `info` and reported state carry it). Rejects with
   * FLEET_ERR_CLOSED if the session is stopped meanwhile.
   */
  async restart (offlineMs: number, beforeReconnect?: () => void): Promise<void> {
    if (this.client === undefined || this.stopped) throw new FleetError('FLEET_ERR_CLOSED', `${this.id} is not running: cannot reboot`)
    if (this.rebooting !== undefined) throw new FleetError('FLEET_ERR_USAGE', `${this.id} is already rebooting`)
    const abort = new AbortController()
    this.rebooting = abort
    try {
      await this.disconnect(true)
      this.log('info', 'rebooting', { offlineMs })
      try {
        await this.runtime.clock.sleep(offlineMs, abort.signal)
      } catch {
        // Aborted by stop(): fall through to the check below.
      }
      if (this.stopped || abort.signal.aborted) throw new FleetError('FLEET_ERR_CLOSED', `${this.id} was stopped while rebooting`)
      beforeReconnect?.()
      await this.start()
    } finally {
      this.rebooting = undefined
    }
  }

  /**
   * Publish now if connected. Offline (the connection lost, reconnecting): a retained message is left out (the state
   * is republished whole on connect), QoS 0 (telemetry, logs: worthless late) is dropped, QoS 1 (events, replies)
   * waits in a queue of at most OFFLINE_QUEUE_LIMIT, the oldest dropped past it. Drops are counted.
   */
  publish (topic: string, payload: string | Buffer, qos: 0 | 1, retain: boolean): void {
    const client = this.client
    if (client === undefined) return
    if (!client.connected) {
      if (retain || this.stopped) return
      if (qos === 1) {
        this.offline.push({ topic, payload })
        if (this.offline.length <= OFFLINE_QUEUE_LIMIT) return
        this.offline.shift()
      }
      this.hooks.dropped()
      return
    }
    this.hooks.published()
    // The callback only ever logs at debug level, so it is made only when debug is on: a closure per message costs
    // an allocation on every telemetry tick, and MQTT.js parks a QoS 0 callback on the stream's `drain` event
    // whenever a write fills the buffer. Without one MQTT.js uses its own no-op. The options are shared constants
    // (MQTT.js copies them).
    if (this.runtime.logger.isLevelEnabled('debug')) {
      client.publish(topic, payload, PUBLISH_OPTIONS[qos][retain ? 1 : 0], (err) => {
        if (err !== undefined && err !== null && !this.stopped) this.debug('publish failed', { err: err.message, topic })
      })
    } else {
      client.publish(topic, payload, PUBLISH_OPTIONS[qos][retain ? 1 : 0])
    }
  }

  private debug (msg: string, fields: Record<string, unknown>): void {
    if (this.runtime.logger.isLevelEnabled('debug')) this.hooks.logger().debug(fields, msg)
  }

  /** Log through pino and, at or above the publish level, on the device's log topic. */
  log (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (this.runtime.logger.isLevelEnabled(level)) this.hooks.logger()[level](fields, msg)
    if ((LEVEL_INDEX[level] ?? 0) >= this.publishLevel) {
      this.publish(this.logTopic, JSON.stringify({ ...fields, ts: this.runtime.clock.now(), level, msg }), 0, false)
    }
  }
}
