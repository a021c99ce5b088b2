/**
 * The device runtime: one simulated device is an MQTT session (devices/session.ts) plus the capabilities that make
 * it a speaker, a band or a camera (devices/capability.ts). This class is the composition root: it routes commands
 * to the capability that answers them (arguments checked against the command catalogue first), applies desired
 * properties, merges reported state and telemetry, sends telemetry with a per-device sequence number, and emits
 * events. It simulates nothing itself.
 */
import type { Clock } from '../core/clock.ts'
import type { Random } from '../core/random.ts'
import type { Logger, LogLevel } from '../core/logger.ts'
import { filterMatcher, isDeviceTopic, type Topics } from '../core/topics.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { FleetError } from '../core/errors.ts'
import { CATALOGUE_VERSION, checkArgs, checkValue, commandSpec, kindSpec, type CommandArgsOf, type CommandName, type DesiredName, type DesiredValueOf, type DeviceKind, type PropertySpec } from '../core/catalogue.ts'
import { CommandError, REPLY_OK_STATUS, REPLY_STATUS, type Reply, type ReplyError, type ReplyOk } from '../core/replies.ts'
import type { Capability, CapabilityFactory, CommandArgs, CommandHandler, DeviceContext } from './capability.ts'
import { schedulerFor, type ScheduledTask, type TelemetryScheduler } from './scheduler.ts'
import { DeviceSession, type SessionHooks } from './session.ts'
import type { DeviceSpec } from './spec.ts'

export { DEVICE_KINDS, type DeviceKind } from './kind-names.ts'
export type { Reply, ReplyError, ReplyOk } from '../core/replies.ts'
export type { Capability, CapabilityFactory, CommandArgs, CommandHandler, DeviceContext, Subscription } from './capability.ts'
export type { DeviceSpec } from './spec.ts'

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
  /** MQTT keep-alive, seconds. Default 60 over the network, 0 (off) over the in-process transport. */
  keepalive?: number
  /**
   * Capabilities plugged into every device made with `createDevice` (a firmware-update agent, a fault injector),
   * after the kind's own. Each factory is called once per device.
   */
  capabilities?: readonly CapabilityFactory[]
  /**
   * The scenario run this fleet belongs to: stamped on what the devices retain (`runId` in `info`, `$run` in the
   * reported state), so a run can tell its own retained state from what an earlier run left on the broker.
   */
  runId?: string
}

/** A kind's handlers, keyed by exactly the catalogue's command names for that kind. */
export type CommandHandlers<K extends DeviceKind> = { readonly [N in CommandName<K>]: CommandHandler<CommandArgsOf<K, N>> }
/** A kind's desired-property setters, keyed by exactly the catalogue's property names; each gets a checked value. */
export type DesiredSetters<K extends DeviceKind> = { readonly [N in DesiredName<K>]: (value: DesiredValueOf<K, N>) => void }

/** Every counter a device keeps, at zero: the one place a counter is declared (its type and the fleet's sums follow). */
const ZERO_COUNTERS = {
  telemetrySent: 0,
  /**
   * Telemetry ticks not sent because the client's outgoing stream was backed up: dropped, not queued, so a slow
   * broker cannot make a device's memory grow. Their `seq` numbers are used, so observers see them as gaps.
   */
  telemetryDropped: 0,
  eventsSent: 0,
  commandsHandled: 0,
  commandErrors: 0,
  badPayloads: 0,
  messagesOut: 0,
  /** Connections made again after a loss (the session's backoff; a deliberate reboot is not counted). */
  reconnects: 0,
  /** Messages given up while offline: telemetry and log lines, and QoS 1 messages past the offline queue's bound. */
  dropped: 0,
  /** Bugs caught in the simulation (a capability's step, sample or state threw); the device kept running. */
  internalErrors: 0,
  /**
   * Commands that repeated one of the device's last {@link RECENT_REQUESTS} requests (same command, same request id):
   * a controller sending again what may not have arrived, or whose reply it did not get. Not run again; answered
   * again with the same reply.
   */
  repeatedRequests: 0
}

/**
 * How many of its last requests (command and request id, with the reply given) a device remembers, so that one sent
 * again is not run twice but answered with the same reply. A controller that could not tell whether a command reached
 * the device (sent while the device was resubscribing after a reconnect), or whose reply was lost, sends it again
 * with the same request id once the device announces itself `online`.
 */
export const RECENT_REQUESTS = 8

export type DeviceCounters = { [K in keyof typeof ZERO_COUNTERS]: number }
/** The names of a device's counters, for code that sums or lists them. */
export const DEVICE_COUNTER_NAMES: readonly (keyof DeviceCounters)[] = Object.freeze(Object.keys(ZERO_COUNTERS) as (keyof DeviceCounters)[])
/** A fresh set of counters, all zero. */
export function zeroCounters (): DeviceCounters { return { ...ZERO_COUNTERS } }

interface Setter { name: string; capability: string; set: (value: unknown) => void; spec: PropertySpec | undefined }
interface Route { capability: string; filter: string; match: (topic: string) => boolean; onMessage: (topic: string, payload: Buffer) => void }

export abstract class Device<K extends DeviceKind = DeviceKind> {
  readonly spec: Readonly<DeviceSpec>
  protected readonly runtime: DeviceRuntime
  /** The simulation's random stream (seed + id), shared by the kind's capabilities in their fixed order. */
  protected readonly rng: Random
  protected readonly clock: Clock
  /** Made on first use: at the default `silent` level a device never logs, and a pino child costs ~0.5 KB. */
  private childLogger: Logger | undefined
  protected get logger (): Logger {
    return (this.childLogger ??= this.runtime.logger.child({ deviceId: this.spec.id, kind: this.spec.kind, room: this.spec.room }))
  }

  readonly counters: DeviceCounters = zeroCounters()
  /** What capabilities get: see {@link DeviceContext}. */
  protected readonly context: DeviceContext

  private readonly session: DeviceSession
  private readonly capabilities: Capability[] = []
  private readonly handlers = new Map<string, CommandHandler>()
  private readonly setters: Setter[] = []
  private readonly guards: Array<(command: string) => void> = []
  private readonly routes: Route[] = []
  private capabilitiesStarted = false
  private firmwareVersion: string

  /** This device's entry in the fleet-wide telemetry scheduler, while it runs. */
  private telemetryTask: ScheduledTask | undefined
  private readonly scheduler: TelemetryScheduler
  /** `sendTelemetry` bound once (a bound function, not an arrow property: see the constructor). */
  private readonly tick: () => void = this.sendTelemetry.bind(this)
  private reportQueued = false
  /** The reported state last published, serialized without its `ts`: an unchanged state is not published again. */
  private lastReported: string | undefined
  private telemetrySeq = 0
  private eventSeq = 0
  private desiredVersion: number | undefined
  private desiredErrors: Record<string, string> = {}
  /**
   * The last {@link RECENT_REQUESTS} requests as `name/rid` and the reply each was given (its JSON), oldest overwritten
   * first; made on the first command.
   */
  private recentRequests: Array<{ key: string; reply: string }> | undefined
  private recentNext = 0
  /** This device's own topics, built once (they are on every publish). */
  private readonly topic: { info: string; telemetry: string; reported: string }

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    this.spec = Object.freeze({ ...spec })
    this.runtime = runtime
    this.clock = runtime.clock
    this.rng = runtime.random.fork(spec.id)
    this.scheduler = schedulerFor(runtime.clock)
    this.firmwareVersion = spec.firmware
    const t = runtime.topics
    this.topic = { info: t.info(spec.id), telemetry: t.telemetry(spec.id), reported: t.reported(spec.id) }
    // The session's hooks and the capabilities' context are small objects whose methods live on a prototype
    // (Hooks, Context below): an object literal of methods would make a closure per method per device, and tsx
    // (esbuild's keepNames) redefines `name` on every arrow function stored under a key, which puts each such
    // closure's properties in a dictionary of its own (~300 bytes apiece, docs/performance.md, "Fleet scale").
    this.session = new DeviceSession(spec.id, runtime, new Hooks(this))
    this.context = this.makeContext()
  }

  get id (): string { return this.spec.id }
  get kind (): K { return this.spec.kind as K }
  get connected (): boolean { return this.session.connected }
  /** The firmware version running now (starts as `spec.firmware`; an update agent changes it). */
  get firmware (): string { return this.firmwareVersion }
  /** Telemetry messages sent so far; the next one carries `seq` = this + 1. */
  get seq (): number { return this.telemetrySeq }
  /** The names of the commands this device answers, in the order its capabilities were added. */
  commandNames (): string[] { return [...this.handlers.keys()] }
  /** The names of the desired properties this device accepts, in the order it applies them. */
  desiredNames (): string[] { return this.setters.map((s) => s.name) }
  /** The names of the capabilities plugged in, in order. */
  capabilityNames (): string[] { return this.capabilities.map((c) => c.name) }

  // ---- composition -----------------------------------------------------------------------------------------

  /**
   * Plug a capability in (a factory gets this device's {@link DeviceContext}); returns it. Only before `start()`.
   * Throws FLEET_ERR_OPTIONS_INVALID for a name already used, a command the catalogue does not list for this
   * kind, or a command or desired property another capability already has.
   */
  use<C extends Capability> (capability: C | ((ctx: DeviceContext) => C)): C {
    const cap = typeof capability === 'function' ? capability(this.context) : capability
    const bad = (why: string): FleetError => new FleetError('FLEET_ERR_OPTIONS_INVALID', `device ${this.id}: capability ${JSON.stringify(cap.name)}: ${why}`)
    if (this.session.active) throw new FleetError('FLEET_ERR_USAGE', `device ${this.id}: plug capabilities in before start() (capability ${cap.name})`)
    if (this.capabilities.some((c) => c.name === cap.name)) throw bad('a capability of that name is plugged in already')
    const commands = Object.entries(cap.commands ?? {}) as Array<[string, CommandHandler]>
    const desired = Object.entries(cap.desired ?? {}) as Array<[string, (value: unknown) => void]>
    for (const [name] of commands) {
      if (commandSpec(this.kind, name) === undefined) throw bad(`the command catalogue has no ${this.kind} command ${JSON.stringify(name)}`)
      if (this.handlers.has(name)) throw bad(`command ${name} is answered by another capability`)
    }
    for (const [name] of desired) if (this.setters.some((s) => s.name === name)) throw bad(`desired property ${name} is set by another capability`)
    for (const [name, handler] of commands) this.handlers.set(name, handler)
    const catalogue = kindSpec(this.kind)?.desired ?? {}
    for (const [name, set] of desired) this.setters.push({ name, capability: cap.name, set, spec: Object.hasOwn(catalogue, name) ? catalogue[name] : undefined })
    if (cap.beforeCommand !== undefined) this.guards.push((command) => { cap.beforeCommand?.(command) })
    for (const s of cap.subscriptions?.() ?? []) this.routes.push({ capability: cap.name, filter: s.filter, match: filterMatcher(s.filter), onMessage: s.onMessage })
    this.capabilities.push(cap)
    return cap
  }

  private makeContext (): DeviceContext {
    return new Context(this)
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  /** Connect, announce, subscribe, start telemetry. Rejects with FLEET_ERR_BROKER_* when the broker cannot be used. */
  async start (): Promise<void> {
    if (this.session.active) return
    if (!this.capabilitiesStarted) {
      this.capabilitiesStarted = true
      for (const c of this.capabilities) c.start?.()
    }
    try {
      await this.session.start()
    } catch (err) {
      // The CONNACK may have started telemetry (onConnected) before the subscription failed.
      this.clearTimers()
      this.stopCapabilities()
      throw err
    }
  }

  /**
   * Stop telemetry and the capabilities, and disconnect. Graceful by default: publishes `offline` (a clean
   * DISCONNECT suppresses the will [MQTT-3.1.2-10]). With `{ graceful: false }` the connection is dropped and the
   * broker sends the will.
   */
  async stop (options: { graceful?: boolean } = {}): Promise<void> {
    this.clearTimers()
    this.stopCapabilities()
    await this.session.stop(options)
  }

  private stopCapabilities (): void {
    if (!this.capabilitiesStarted) return
    this.capabilitiesStarted = false
    for (const c of this.capabilities) {
      try {
        c.stop?.()
      } catch (err) {
        this.counters.internalErrors++
        this.log('error', `capability ${c.name} failed to stop`, { err: (err as Error).message })
      }
    }
  }

  private onConnected (): void {
    this.session.publish(this.topic.info, JSON.stringify(this.info()), 1, true)
    // Unconditional: whatever the broker holds retained may be from before a restart of this device.
    this.publishReported(true)
    if (this.telemetryTask === undefined && !this.session.isStopped) {
      // A random phase spreads a fleet's telemetry over the interval instead of a burst every period.
      const interval = this.spec.telemetryIntervalMs
      this.telemetryTask = this.scheduler.add(Math.floor(this.rng.next() * interval), interval, this.tick)
    }
    this.log('info', 'online', { firmware: this.firmwareVersion })
    for (const c of this.capabilities) {
      try {
        c.connected?.()
      } catch (err) {
        this.counters.internalErrors++
        this.log('error', `capability ${c.name} failed on connect`, { err: (err as Error).message })
      }
    }
  }

  private clearTimers (): void {
    this.scheduler.cancel(this.telemetryTask)
    this.telemetryTask = undefined
  }

  // ---- firmware --------------------------------------------------------------------------------------------

  /** Run another firmware version from now on: the reported `firmware` follows and `info` is published again. */
  setFirmware (version: string): void {
    if (typeof version !== 'string' || version === '') throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `device ${this.id}: firmware version must be a non-empty string, got ${JSON.stringify(version)}`)
    if (version === this.firmwareVersion) return
    const from = this.firmwareVersion
    this.firmwareVersion = version
    this.log('info', 'firmware changed', { from, to: version })
    this.session.publish(this.topic.info, JSON.stringify(this.info()), 1, true)
    this.stateChanged()
  }

  // ---- outgoing --------------------------------------------------------------------------------------------

  /** Advance the simulation by one telemetry interval: each capability's step, in order. */
  protected step (dtMs: number): void {
    for (const c of this.capabilities) c.step?.(dtMs)
  }

  /** The telemetry values for this tick (`ts` and `seq` are added by the runtime), merged from the capabilities. */
  sample (): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const c of this.capabilities) if (c.telemetry !== undefined) Object.assign(out, c.telemetry())
    return out
  }

  /** The device's reported state (the twin's reported half), merged from the capabilities. */
  reportedState (): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const c of this.capabilities) if (c.reported !== undefined) Object.assign(out, c.reported())
    return out
  }

  /** One telemetry tick: step the simulation, then publish `{ts, seq, ...sample}`. */
  sendTelemetry (): void {
    // Called from a timer: a bug in a capability's step() or sample() is logged and counted, never thrown into the
    // event loop where it would take the whole in-process fleet down.
    try {
      this.step(this.spec.telemetryIntervalMs)
      const state = this.session.sendState
      if (state === 0) return // not connected
      this.telemetrySeq++
      // Backpressure: the stream has more queued than its high-water mark. Telemetry is a stream of samples, the
      // next one supersedes this one: drop it (counted) instead of queueing without bound.
      if (state === 1) { this.counters.telemetryDropped++; return }
      this.counters.telemetrySent++
      this.session.publish(this.topic.telemetry, telemetryPayload(this.clock.now(), this.telemetrySeq, this.sample()), 0, false)
    } catch (err) {
      this.counters.internalErrors++
      this.log('error', 'telemetry tick failed', { err: (err as Error).message })
    }
  }

  /** Publish an event `{ts, seq, ...data}` on `{p}/{id}/events/{name}` (QoS 1: events matter more than telemetry). */
  protected emitEvent (name: string, data: Record<string, unknown> = {}): void {
    this.eventSeq++
    // Sent now, or held in the session's offline queue until the connection is back.
    if (this.session.active) this.counters.eventsSent++
    this.session.publish(this.runtime.topics.event(this.id, name), JSON.stringify({ ts: this.clock.now(), seq: this.eventSeq, ...data }), 1, false)
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
    const state: Record<string, unknown> = { ...this.reportedState(), firmware: this.firmwareVersion }
    if (this.desiredVersion !== undefined) state.$desiredVersion = this.desiredVersion
    // Like an Azure twin's per-property ack: a controller can see which desired properties were refused and why.
    if (Object.keys(this.desiredErrors).length > 0) state.$desiredErrors = this.desiredErrors
    if (this.runtime.runId !== undefined) state.$run = this.runtime.runId
    const key = JSON.stringify(state)
    if (!always && key === this.lastReported) return
    this.lastReported = key
    // The payload is the key with `ts` appended: one serialisation, not two (`state` always has `firmware`).
    this.session.publish(this.topic.reported, `${key.slice(0, -1)},"ts":${this.clock.now()}}`, 1, true)
  }

  /**
   * The retained identity. It advertises what the device answers by name only (`commands`, `desired`) with the
   * catalogue version those names come from: the schemas are in core/catalogue.ts, so 100,000 retained `info`
   * messages do not each carry them.
   */
  info (): Record<string, unknown> {
    const { id, kind, model, room, name, home, tags } = this.spec
    return { id, kind, model, room, name, firmware: this.firmwareVersion, home, tags: tags ?? {}, catalogue: CATALOGUE_VERSION, commands: this.commandNames(), desired: this.desiredNames(), ...(this.runtime.runId === undefined ? {} : { runId: this.runtime.runId }) }
  }

  /** Log through pino and, at or above the publish level, on the device's log topic. */
  log (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.session.log(level, msg, fields)
  }

  // ---- incoming --------------------------------------------------------------------------------------------

  private onMessage (topic: string, payload: Buffer): void {
    try {
      const parsed = this.runtime.topics.parse(topic)
      if (isDeviceTopic(parsed) && parsed.deviceId === this.id && (parsed.channel === 'command' || parsed.channel === 'desired')) {
        if (parsed.channel === 'command') this.onCommand(parsed.name, parsed.rid, payload)
        else this.onDesired(payload)
        return
      }
      for (const r of this.routes) if (r.match(topic)) r.onMessage(topic, payload)
    } catch (err) {
      // A handler bug must not take the device (or the fleet) down: log it and carry on.
      this.log('error', 'message handler failed', { topic, err: (err as Error).message })
    }
  }

  private onCommand (name: string, rid: string, payload: Buffer): void {
    const key = `${name}/${rid}`
    const recent = (this.recentRequests ??= [])
    const earlier = recent.find((r) => r.key === key)
    if (earlier !== undefined) {
      // Run already: running it again would do it twice. Its reply goes out again, the same, for a controller that
      // did not get the first one.
      this.counters.repeatedRequests++
      this.log('debug', `command ${name} repeated; answered with the earlier reply`, { rid })
      this.session.publish(this.runtime.topics.reply(this.id, rid), earlier.reply, 1, false)
      return
    }
    const reply = JSON.stringify({ ...this.execute(name, payload), rid } satisfies Reply)
    recent[this.recentNext] = { key, reply }
    this.recentNext = (this.recentNext + 1) % RECENT_REQUESTS
    this.session.publish(this.runtime.topics.reply(this.id, rid), reply, 1, false)
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
    const handler = this.handlers.get(name)
    try {
      if (handler === undefined) throw new CommandError('UNKNOWN_COMMAND', `${this.kind} does not know the command "${name}"; it knows ${this.commandNames().join(', ')}`)
      // A device in the middle of an update refuses before looking at the arguments (`use` checked the spec exists).
      for (const guard of this.guards) guard(name)
      const result = handler(checkArgs(commandSpec(this.kind, name) as NonNullable<ReturnType<typeof commandSpec>>, args)) ?? {}
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

  /**
   * Apply one desired property as a desired-state message would: a catalogue property is checked against its
   * schema, then set. Throws CommandError (the reason ends up in the reported state's `$desiredErrors`).
   */
  applyDesired (key: string, value: unknown): void {
    const setter = this.setters.find((s) => s.name === key)
    if (setter === undefined) throw new CommandError('NOT_SUPPORTED', `${this.kind} has no desired property "${key}"`)
    setter.set(setter.spec === undefined ? value : checkValue(setter.spec.schema, value, `"${key}"`))
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
    // Apply in the catalogue's (capabilities') order, not the payload's: `{volume, power: true}` on a speaker that
    // is off must turn it on before setting the volume, whichever key the controller wrote first.
    for (const { name } of this.setters) {
      if (!Object.hasOwn(desired, name)) continue
      try {
        this.applyDesired(name, desired[name])
      } catch (err) {
        errors[name] = err instanceof CommandError ? `${err.code}: ${err.message}` : (err as Error).message
      }
    }
    for (const key of Object.keys(desired)) {
      if (!key.startsWith('$') && !this.setters.some((s) => s.name === key)) errors[key] = `NOT_SUPPORTED: ${this.kind} has no desired property "${key}"`
    }
    if (typeof version === 'number') this.desiredVersion = version
    this.desiredErrors = errors
    if (Object.keys(errors).length > 0) this.log('warn', 'desired state partly rejected', { errors })
    else this.log('info', 'desired state applied', { version })
    this.stateChanged()
  }
}

/** What a device's session calls back into (see {@link SessionHooks}); one object per device, methods on the prototype. */
class Hooks implements SessionHooks {
  private readonly device: Device
  constructor (device: Device) { this.device = device }
  logger (): Logger { return this.device['logger'] }
  connected (): void { this.device['onConnected']() }
  filters (): string[] {
    const d = this.device
    const t = d['runtime'].topics
    return [t.filter('command', d.id), t.desired(d.id), ...d['routes'].map((r) => r.filter)]
  }

  message (topic: string, payload: Buffer): void { this.device['onMessage'](topic, payload) }
  published (): void { this.device.counters.messagesOut++ }
  reconnected (): void { this.device.counters.reconnects++ }
  dropped (): void { this.device.counters.dropped++ }
}

/**
 * A device's {@link DeviceContext}: one small object whose getters and methods live on the prototype and read the
 * live device (the firmware, the connection), instead of an object literal of ~20 closures per device. (Bracket
 * access reaches the device's private members: this class is part of the device.)
 */
class Context implements DeviceContext {
  private readonly device: Device
  constructor (device: Device) { this.device = device }
  get spec (): Readonly<DeviceSpec> { return this.device.spec }
  get id (): string { return this.device.id }
  get kind (): DeviceKind { return this.device.kind }
  get clock (): Clock { return this.device['clock'] }
  get rng (): Random { return this.device['rng'] }
  get topics (): Topics { return this.device['runtime'].topics }
  get connected (): boolean { return this.device.connected }
  get firmware (): string { return this.device.firmware }
  fork (name: string): Random { return this.device['runtime'].random.fork(`${this.device.id}/${name}`) }
  setFirmware (version: string): void { this.device.setFirmware(version) }
  emitEvent (name: string, data?: Record<string, unknown>): void { this.device['emitEvent'](name, data) }
  stateChanged (): void { this.device['stateChanged']() }
  log (level: LogLevel, msg: string, fields?: Record<string, unknown>): void { this.device.log(level, msg, fields) }
  publish (topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain?: boolean }): void { this.device['session'].publish(topic, payload, options.qos, options.retain === true) }
  reboot (options: { offlineMs: number; firmware?: string }): Promise<void> {
    const device = this.device
    return device['session'].restart(options.offlineMs, options.firmware === undefined ? undefined : () => { device.setFirmware(options.firmware as string) })
  }
}

/**
 * `JSON.stringify({ ts, seq, ...sample })`, without copying the sample into a new object on every tick: the sample is
 * serialized on its own and `ts` and `seq` are written in front of it. A sample with its own `ts` or `seq` (which
 * the spread would let win, in the first places) takes the spread.
 */
export function telemetryPayload (ts: number, seq: number, sample: Record<string, unknown>): string {
  if (Object.hasOwn(sample, 'ts') || Object.hasOwn(sample, 'seq') || !Number.isFinite(ts)) return JSON.stringify({ ts, seq, ...sample })
  const json = JSON.stringify(sample)
  return json.length === 2 ? `{"ts":${ts},"seq":${seq}}` : `{"ts":${ts},"seq":${seq},${json.slice(1)}`
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
