/**
 * The device runtime: one simulated device is one MQTT.js client speaking the topic contract (core/topics.ts).
 * Subclasses (speaker, band, camera) hold the device's own state and behaviour; this base does the MQTT side:
 * status with a last will, identity, telemetry with a per-device sequence number, events, the twin
 * (desired in, reported out, Azure-style `$version`), commands with replies matched by request id, and log lines.
 */
import type { MqttClient } from 'mqtt'
import type { Clock, TimerHandle } from '../core/clock.ts'
import type { Random } from '../core/random.ts'
import type { Logger, LogLevel } from '../core/logger.ts'
import { LOG_LEVELS } from '../core/logger.ts'
import { isDeviceTopic, STATUS_OFFLINE, STATUS_ONLINE, type Topics } from '../core/topics.ts'
import { createMqttClient, describeTarget, endClient, isSubscriptionRefused, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'
import { FleetError } from '../core/errors.ts'
import { CATALOGUE_VERSION, checkArgs, checkValue, commandSpec, kindSpec, type CommandArgsOf, type CommandName, type DesiredName, type DesiredValueOf, type DeviceKind } from '../core/catalogue.ts'
import { CommandError, REPLY_OK_STATUS, REPLY_STATUS, type Reply, type ReplyError, type ReplyOk } from '../core/replies.ts'

export { DEVICE_KINDS, type DeviceKind } from './kind-names.ts'
export type { Reply, ReplyError, ReplyOk } from '../core/replies.ts'

/** Who a device is. Published retained on its `info` topic. */
export interface DeviceSpec {
  id: string
  kind: DeviceKind
  model: string
  /** Room name, e.g. `kitchen`; lower case. */
  room: string
  /** Human name, e.g. `kitchen speaker`, the way a voice request names it. */
  name: string
  firmware: string
  /** The home this device belongs to (e.g. `demo`, `home-0042`). */
  home: string
  /** Milliseconds between telemetry messages (clock time). */
  telemetryIntervalMs: number
  /** Free tags for grouping (rollout groups use them later). */
  tags?: Record<string, string>
}

/** What all devices of a fleet share. */
export interface DeviceRuntime {
  target: BrokerTarget
  topics: Topics
  clock: Clock
  /** The fleet's root random stream; each device forks its own from it by id. */
  random: Random
  logger: Logger
  /** Log lines at or above this level are also published on the device's log topic. Default `info`. */
  publishLogLevel?: LogLevel | 'silent'
  /** Milliseconds to wait for the first CONNACK. Default 30 000. */
  connectTimeoutMs?: number
  /** MQTT keep-alive, seconds. Default 60. */
  keepalive?: number
}

export type CommandArgs = Record<string, unknown>
/**
 * A command handler: gets its arguments already checked against the catalogue (core/catalogue.ts; defaults filled
 * in), throws CommandError for what the schema cannot say (the device is off, nothing is playing…), and returns
 * the reply's `result`.
 */
export type CommandHandler<A = CommandArgs> = (args: A) => Record<string, unknown> | undefined

/** A kind's handlers, keyed by exactly the catalogue's command names for that kind (a missing or extra one is a type error). */
export type CommandHandlers<K extends DeviceKind> = { readonly [N in CommandName<K>]: CommandHandler<CommandArgsOf<K, N>> }
/** A kind's desired-property setters, keyed by exactly the catalogue's property names; each gets a checked value. */
export type DesiredSetters<K extends DeviceKind> = {
  readonly [N in DesiredName<K>]: (value: DesiredValueOf<K, N>) => void
}

/** Every counter a device keeps, at zero: the one place a counter is declared (its type and the fleet's sums follow). */
const ZERO_COUNTERS = {
  telemetrySent: 0,
  eventsSent: 0,
  commandsHandled: 0,
  commandErrors: 0,
  badPayloads: 0,
  messagesOut: 0,
  /** Bugs caught in the simulation (a kind's step, sample or state threw); the device kept running. */
  internalErrors: 0
}

export type DeviceCounters = { [K in keyof typeof ZERO_COUNTERS]: number }
/** The names of a device's counters, for code that sums or lists them. */
export const DEVICE_COUNTER_NAMES: readonly (keyof DeviceCounters)[] = Object.freeze(Object.keys(ZERO_COUNTERS) as (keyof DeviceCounters)[])
/** A fresh set of counters, all zero. */
export function zeroCounters (): DeviceCounters { return { ...ZERO_COUNTERS } }

const LEVEL_INDEX: Record<string, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i]))

/** How long a graceful stop waits for the broker to acknowledge `offline` before dropping the connection. */
const STOP_ACK_TIMEOUT_MS = 2000

export abstract class Device<K extends DeviceKind = DeviceKind> {
  readonly spec: Readonly<DeviceSpec>
  protected readonly runtime: DeviceRuntime
  protected readonly rng: Random
  protected readonly clock: Clock
  protected readonly logger: Logger
  readonly counters: DeviceCounters = zeroCounters()

  /** The handlers of the catalogue's commands for this kind. */
  protected abstract readonly commands: CommandHandlers<K>
  /** The setters of the catalogue's desired properties for this kind (applied in the catalogue's order). */
  protected abstract readonly desiredProperties: DesiredSetters<K>

  private client: MqttClient | undefined
  private telemetryTimer: TimerHandle | undefined
  private firstTelemetryTimer: TimerHandle | undefined
  private reportQueued = false
  /** The reported state last published, serialized without its `ts`: an unchanged state is not published again. */
  private lastReported: string | undefined
  private telemetrySeq = 0
  private eventSeq = 0
  private desiredVersion: number | undefined
  private stopped = false
  private readonly publishLevel: number
  /** This device's own topics, built once (they are on every publish). */
  private readonly topic: { status: string; info: string; telemetry: string; reported: string; log: string }
  private settleSubscribed: ((err?: Error) => void) | undefined
  private desiredErrors: Record<string, string> = {}

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    this.spec = Object.freeze({ ...spec })
    this.runtime = runtime
    this.clock = runtime.clock
    this.rng = runtime.random.fork(spec.id)
    this.logger = runtime.logger.child({ deviceId: spec.id, kind: spec.kind, room: spec.room })
    const t = runtime.topics
    this.topic = { status: t.status(spec.id), info: t.info(spec.id), telemetry: t.telemetry(spec.id), reported: t.reported(spec.id), log: t.log(spec.id) }
    const pl = runtime.publishLogLevel ?? 'info'
    this.publishLevel = pl === 'silent' ? Infinity : LEVEL_INDEX[pl] ?? 2
  }

  get id (): string { return this.spec.id }
  get kind (): K { return this.spec.kind as K }
  get connected (): boolean { return this.client?.connected === true }
  /** Telemetry messages sent so far; the next one carries `seq` = this + 1. */
  get seq (): number { return this.telemetrySeq }
  /** The names of the commands this device understands. */
  commandNames (): string[] { return Object.keys(this.commands) }

  /** Advance the simulation by one telemetry interval. Called before each telemetry sample. */
  protected abstract step (dtMs: number): void
  /** The telemetry values for this tick (`ts` and `seq` are added by the runtime). */
  protected abstract sample (): Record<string, unknown>
  /** The device's reported state (the twin's reported half). */
  abstract reportedState (): Record<string, unknown>

  // ---- lifecycle -------------------------------------------------------------------------------------------

  /** Connect, announce, subscribe, start telemetry. Rejects with FLEET_ERR_BROKER_* when the broker cannot be used. */
  async start (): Promise<void> {
    if (this.client !== undefined) return
    this.stopped = false
    const client = createMqttClient(this.runtime.target, {
      clientId: this.id,
      clean: true,
      keepalive: this.runtime.keepalive ?? 60,
      reconnectPeriod: 1000,
      connectTimeout: this.runtime.connectTimeoutMs ?? 30_000,
      resubscribe: true,
      // The broker publishes this if we vanish without DISCONNECT [MQTT-3.1.2-8]; retained so late subscribers see it.
      will: { topic: this.topic.status, payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true }
    })
    this.client = client
    client.on('message', (topic, payload) => { this.onMessage(topic, payload) })
    // start() resolves only once the command subscription is acknowledged, so a command sent right after start()
    // cannot be lost [MQTT-3.8.4-1]: the broker must SUBACK before a publish to the new subscription is routed to us.
    // A refused subscription (SUBACK 0x80, e.g. a broker ACL), a stop() meanwhile, or no SUBACK in time rejects.
    const timeoutMs = this.runtime.connectTimeoutMs ?? 30_000
    const subscribed = new Promise<void>((resolve, reject) => {
      this.settleSubscribed = (err) => { if (err === undefined) resolve(); else reject(err) }
    })
    // A stop() while we still wait for the CONNACK below rejects `subscribed` before anything awaits it: mark it
    // handled now so that is not an unhandled rejection. The race below still sees the rejection.
    subscribed.catch(() => undefined)
    client.on('connect', () => { this.onConnect(client) })
    client.on('error', (err) => { this.logger.debug({ err: err.message }, 'mqtt error') })
    let timer: NodeJS.Timeout | undefined
    try {
      await waitConnected(client, this.runtime.target, timeoutMs)
      await Promise.race([subscribed, new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${this.id}: no SUBACK from ${describeTarget(this.runtime.target)} within ${timeoutMs} ms`)) }, timeoutMs)
      })])
    } catch (err) {
      this.settleSubscribed = undefined
      // The CONNACK may have started telemetry (onConnect) before the subscription failed.
      this.clearTimers()
      if (this.client === client) this.client = undefined
      await endClient(client, true)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  private onConnect (client: MqttClient): void {
    const { topics } = this.runtime
    this.publish(this.topic.status, STATUS_ONLINE, 1, true)
    this.publish(this.topic.info, JSON.stringify(this.info()), 1, true)
    // Unconditional: whatever the broker holds retained may be from before a restart of this device.
    this.publishReported(true)
    const filters = [topics.filter('command', this.id), topics.desired(this.id)]
    client.subscribe(filters, { qos: 1 }, (err) => {
      let problem: FleetError | undefined
      if (err !== null && err !== undefined) {
        if (isSubscriptionRefused(err)) {
          problem = new FleetError('FLEET_ERR_BROKER_REFUSED', `${this.id}: the broker refused the subscription to ${filters.join(', ')}: ${err.message}`, { cause: err })
          this.log('error', 'subscribe refused', { err: problem.message })
        } else {
          // No SUBACK: the connection went away meanwhile (a reconnect subscribes again).
          problem = new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${this.id}: no SUBACK for ${filters.join(', ')}: ${err.message}`, { cause: err })
          this.log('warn', 'subscribe interrupted', { err: problem.message })
        }
      }
      const settle = this.settleSubscribed
      this.settleSubscribed = undefined
      settle?.(problem)
    })
    if (this.telemetryTimer === undefined && this.firstTelemetryTimer === undefined && !this.stopped) {
      // A random phase spreads a fleet's telemetry over the interval instead of a burst every period.
      const interval = this.spec.telemetryIntervalMs
      this.firstTelemetryTimer = this.clock.setTimeout(() => {
        this.firstTelemetryTimer = undefined
        this.sendTelemetry()
        this.telemetryTimer = this.clock.setInterval(() => { this.sendTelemetry() }, interval)
      }, Math.floor(this.rng.next() * interval))
    }
    this.log('info', 'online', { firmware: this.spec.firmware })
  }

  /**
   * Stop telemetry and disconnect. Graceful by default: publishes `offline` (a clean DISCONNECT suppresses the
   * will [MQTT-3.1.2-10]). With `{ graceful: false }` the connection is dropped and the broker sends the will.
   */
  async stop (options: { graceful?: boolean } = {}): Promise<void> {
    this.stopped = true
    this.clearTimers()
    const settle = this.settleSubscribed
    this.settleSubscribed = undefined
    settle?.(new FleetError('FLEET_ERR_CLOSED', `${this.id} was stopped while starting`))
    const client = this.client
    this.client = undefined
    if (client === undefined) return
    if (options.graceful === false) {
      client.stream.destroy()
      await endClient(client, true)
      return
    }
    // Graceful, but bounded: a broker that stopped answering must not hold stop() (and a fleet's stop) forever.
    let acked = false
    if (client.connected) {
      acked = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { resolve(false) }, STOP_ACK_TIMEOUT_MS)
        client.publish(this.topic.status, STATUS_OFFLINE, { qos: 1, retain: true }, (err) => { clearTimeout(timer); resolve(err === undefined || err === null) })
      })
    }
    await endClient(client, !acked)
  }

  private clearTimers (): void {
    this.clock.clearTimer(this.firstTelemetryTimer)
    this.clock.clearTimer(this.telemetryTimer)
    this.firstTelemetryTimer = undefined
    this.telemetryTimer = undefined
  }

  // ---- outgoing --------------------------------------------------------------------------------------------

  private publish (topic: string, payload: string, qos: 0 | 1, retain: boolean): void {
    const client = this.client
    if (client === undefined || !client.connected) return
    this.counters.messagesOut++
    client.publish(topic, payload, { qos, retain }, (err) => {
      if (err !== undefined && err !== null && !this.stopped) this.logger.debug({ err: err.message, topic }, 'publish failed')
    })
  }

  /** One telemetry tick: step the simulation, then publish `{ts, seq, ...sample}`. */
  sendTelemetry (): void {
    // Called from a timer: a bug in a kind's step() or sample() is logged and counted, never thrown into the
    // event loop where it would take the whole in-process fleet down.
    try {
      this.step(this.spec.telemetryIntervalMs)
      if (!this.connected) return
      this.telemetrySeq++
      this.counters.telemetrySent++
      const body = { ts: this.clock.now(), seq: this.telemetrySeq, ...this.sample() }
      this.publish(this.topic.telemetry, JSON.stringify(body), 0, false)
    } catch (err) {
      this.counters.internalErrors++
      this.log('error', 'telemetry tick failed', { err: (err as Error).message })
    }
  }

  /** Publish an event `{ts, seq, ...data}` on `{p}/{id}/events/{name}` (QoS 1: events matter more than telemetry). */
  protected emitEvent (name: string, data: Record<string, unknown> = {}): void {
    this.eventSeq++
    if (this.connected) this.counters.eventsSent++
    this.publish(this.runtime.topics.event(this.id, name), JSON.stringify({ ts: this.clock.now(), seq: this.eventSeq, ...data }), 1, false)
    this.log('info', `event ${name}`, data)
  }

  /**
   * Mark the reported state possibly changed; after the current turn it is published once, retained, if it differs
   * from the last one published. Callers need not check whether anything changed: this is the one place that does.
   */
  protected stateChanged (): void {
    if (this.reportQueued) return
    this.reportQueued = true
    queueMicrotask(() => {
      this.reportQueued = false
      try {
        this.publishReported(false)
      } catch (err) {
        this.counters.internalErrors++
        this.log('error', 'reporting state failed', { err: (err as Error).message })
      }
    })
  }

  /** Publish the reported state, retained; unless `always`, only when it differs (`ts` aside) from the last one. */
  private publishReported (always: boolean): void {
    const state: Record<string, unknown> = { ...this.reportedState(), firmware: this.spec.firmware }
    if (this.desiredVersion !== undefined) state.$desiredVersion = this.desiredVersion
    // Like an Azure twin's per-property ack: a controller can see which desired properties were refused and why.
    if (Object.keys(this.desiredErrors).length > 0) state.$desiredErrors = this.desiredErrors
    const key = JSON.stringify(state)
    if (!always && key === this.lastReported) return
    this.lastReported = key
    // The payload is the key with `ts` appended: one serialisation, not two (`state` always has `firmware`).
    this.publish(this.topic.reported, `${key.slice(0, -1)},"ts":${this.clock.now()}}`, 1, true)
  }

  /**
   * The retained identity. It advertises what the device answers by name only (`commands`, `desired`) with the
   * catalogue version those names come from: the schemas are in core/catalogue.ts, so 100,000 retained `info`
   * messages do not each carry them.
   */
  info (): Record<string, unknown> {
    const { id, kind, model, room, name, firmware, home, tags } = this.spec
    return { id, kind, model, room, name, firmware, home, tags: tags ?? {}, catalogue: CATALOGUE_VERSION, commands: this.commandNames(), desired: this.desiredNames() }
  }

  /** The names of the desired properties this device accepts, in the order it applies them. */
  desiredNames (): string[] { return Object.keys(this.desiredProperties) }

  /**
   * Apply one desired property as a desired-state message would: checked against the catalogue, then set. Throws
   * CommandError (the reason ends up in the reported state's `$desiredErrors`).
   */
  applyDesired (key: string, value: unknown): void {
    const spec = kindSpec(this.kind)?.desired[key]
    const setter = Object.hasOwn(this.desiredProperties, key) ? (this.desiredProperties as Record<string, (v: unknown) => void>)[key] : undefined
    if (spec === undefined || setter === undefined) throw new CommandError('NOT_SUPPORTED', `${this.kind} has no desired property "${key}"`)
    setter(checkValue(spec.schema, value, `"${key}"`))
  }

  /** Log through pino and, at or above the publish level, on the device's log topic. */
  log (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.logger[level](fields, msg)
    if ((LEVEL_INDEX[level] ?? 0) >= this.publishLevel) {
      this.publish(this.topic.log, JSON.stringify({ ...fields, ts: this.clock.now(), level, msg }), 0, false)
    }
  }

  // ---- incoming --------------------------------------------------------------------------------------------

  private onMessage (topic: string, payload: Buffer): void {
    const parsed = this.runtime.topics.parse(topic)
    if (!isDeviceTopic(parsed) || parsed.deviceId !== this.id) return
    try {
      if (parsed.channel === 'command') this.onCommand(parsed.name, parsed.rid, payload)
      else if (parsed.channel === 'desired') this.onDesired(payload)
    } catch (err) {
      // A handler bug must not take the device (or the fleet) down: log it and carry on.
      this.log('error', 'message handler failed', { topic, err: (err as Error).message })
    }
  }

  private onCommand (name: string, rid: string, payload: Buffer): void {
    const full: Reply = { ...this.execute(name, payload), rid }
    this.publish(this.runtime.topics.reply(this.id, rid), JSON.stringify(full), 1, false)
  }

  /**
   * Run a command as if it had arrived over MQTT (payload as raw bytes, a JSON string, or parsed arguments)
   * and return its reply without the request id.
   */
  execute (name: string, payload: Buffer | string | CommandArgs): Omit<ReplyOk, 'rid'> | Omit<ReplyError, 'rid'> {
    let args: CommandArgs
    try {
      args = parseArgs(payload)
    } catch (err) {
      this.counters.badPayloads++
      this.counters.commandErrors++
      const message = (err as Error).message
      this.log('warn', 'bad command payload', { command: name, error: message })
      return { command: name, ok: false, status: REPLY_STATUS.BAD_REQUEST, error: { code: 'BAD_REQUEST', message } }
    }
    const handlers = this.commands as unknown as Readonly<Record<string, CommandHandler>>
    const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined
    const spec = commandSpec(this.kind, name)
    try {
      if (handler === undefined || spec === undefined) throw new CommandError('UNKNOWN_COMMAND', `${this.kind} does not know the command "${name}"; it knows ${this.commandNames().join(', ')}`)
      const result = handler(checkArgs(spec, args)) ?? {}
      this.counters.commandsHandled++
      this.log('info', `command ${name}`, { args })
      // Read-only commands (getBattery…) publish nothing: stateChanged() skips a state equal to the last one.
      this.stateChanged()
      return { command: name, ok: true, status: REPLY_OK_STATUS, result }
    } catch (err) {
      this.counters.commandErrors++
      const e = err instanceof CommandError ? err : new CommandError('INTERNAL', (err as Error).message)
      this.log(e.code === 'INTERNAL' ? 'error' : 'warn', `command ${name} failed`, { code: e.code, error: e.message })
      return e.toReply(name)
    }
  }

  private onDesired (payload: Buffer): void {
    if (payload.length === 0) return // retained desired state cleared
    let desired: CommandArgs
    try {
      desired = parseArgs(payload)
    } catch (err) {
      this.counters.badPayloads++
      this.log('warn', 'bad desired state payload', { error: (err as Error).message })
      return
    }
    const version = desired.$version
    if (typeof version === 'number' && this.desiredVersion !== undefined && version <= this.desiredVersion) return
    const errors: Record<string, string> = {}
    // Apply in the kind's declared order, not the payload's: `{volume, power: true}` on a speaker that is off must
    // turn it on before setting the volume, whichever key the controller wrote first.
    for (const key of this.desiredNames()) {
      if (!Object.hasOwn(desired, key)) continue
      try {
        this.applyDesired(key, desired[key])
      } catch (err) {
        errors[key] = err instanceof CommandError ? `${err.code}: ${err.message}` : (err as Error).message
      }
    }
    for (const key of Object.keys(desired)) {
      if (!key.startsWith('$') && !Object.hasOwn(this.desiredProperties, key)) errors[key] = `NOT_SUPPORTED: ${this.kind} has no desired property "${key}"`
    }
    if (typeof version === 'number') this.desiredVersion = version
    this.desiredErrors = errors
    if (Object.keys(errors).length > 0) this.log('warn', 'desired state partly rejected', { errors })
    else this.log('info', 'desired state applied', { version })
    this.stateChanged()
  }
}

function parseArgs (payload: Buffer | string | CommandArgs): CommandArgs {
  if (typeof payload === 'object' && !Buffer.isBuffer(payload)) return payload
  const text = typeof payload === 'string' ? payload : payload.toString('utf8')
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new Error(`payload is not JSON: ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('payload must be a JSON object of arguments')
  return value as CommandArgs
}
