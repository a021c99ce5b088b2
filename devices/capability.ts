/**
 * Capabilities: what a device does, in pieces that plug into its session (devices/session.ts) the way MQTT.js keeps
 * one handler module per packet type and zigbee2mqtt one extension per feature. A device kind is a list of
 * capabilities (a speaker is power + media, a camera power + camera, a band its body); a firmware-update agent or a
 * fault injector is one more, plugged in with `device.use(…)` or for a whole fleet with `DeviceRuntime.capabilities`.
 *
 * A capability contributes any of: commands (from the command catalogue), desired properties, reported fields,
 * telemetry fields, extra subscriptions with their handler, a simulation step, and start/stop hooks. It reaches the
 * device only through the {@link DeviceContext} it is made with. docs/devices.md, "Capabilities", is the guide.
 */
import type { Clock } from '../core/clock.ts'
import type { DeviceKind } from '../core/catalogue.ts'
import type { LogLevel } from '../core/logger.ts'
import type { Random } from '../core/random.ts'
import type { Topics } from '../core/topics.ts'
import type { DeviceSpec } from './spec.ts'

export type CommandArgs = Record<string, unknown>
/**
 * A command handler: gets its arguments already checked against the catalogue (core/catalogue.ts; defaults filled
 * in), throws CommandError for what the schema cannot say (the device is off, nothing is playing…), and returns
 * the reply's `result`.
 */
export type CommandHandler<A = CommandArgs> = (args: A) => Record<string, unknown> | undefined

/** An extra subscription: the filter, subscribed on every (re)connect, and what to do with its messages. */
export interface Subscription {
  filter: string
  /** Called for each message whose topic matches `filter`. A throw is logged; the device keeps running. */
  onMessage: (topic: string, payload: Buffer) => void
}

/** What a capability gives a device. Every member is optional; the device merges them in the order capabilities were added. */
export interface Capability {
  /** For logs and errors: `power`, `media`, `update-agent`. Unique within a device. */
  readonly name: string
  /**
   * Command handlers, keyed by catalogue command names of the device's kind (`use()` refuses a name the catalogue
   * does not list for the kind, or one another capability already answers). Arguments arrive checked.
   */
  readonly commands?: Readonly<Record<string, CommandHandler<never>>>
  /**
   * Desired-property setters, applied in the order capabilities were added, then in this object's order. A name in
   * the kind's catalogue gets its value checked against the catalogue's schema; any other name (e.g. an update
   * agent's `deviceUpdate`) gets the raw JSON value and checks it itself (throw CommandError to refuse it: the
   * reason is reported under `$desiredErrors`).
   */
  readonly desired?: Readonly<Record<string, (value: never) => void>>
  /**
   * Called before any command's handler (and before its arguments are checked): throw CommandError to refuse it,
   * e.g. `UPDATING` while a firmware install or apply is in progress.
   */
  beforeCommand?: (command: string) => void
  /** Advance the simulation by one telemetry interval (called before each telemetry sample, connected or not). */
  step?: (dtMs: number) => void
  /** Telemetry fields for this tick, merged into `{ts, seq, …}`. */
  telemetry?: () => Record<string, unknown>
  /** Reported-state fields, merged into the twin's reported half (published retained when it changes). */
  reported?: () => Record<string, unknown>
  /** Extra topic filters with their handler, subscribed on every (re)connect alongside the device's own. */
  subscriptions?: () => readonly Subscription[]
  /** The device is starting (before it connects). */
  start?: () => void
  /** The device connected (first time, after a reconnect and after a reboot): status, info and reported are out. */
  connected?: () => void
  /** The device is stopping: release every timer and listener taken (a stopped device may be started again). */
  stop?: () => void
}

/** What a capability may use of its device. */
export interface DeviceContext {
  readonly spec: Readonly<DeviceSpec>
  readonly id: string
  readonly kind: DeviceKind
  /** The device's clock: read time and set timers through it, never `Date.now()` or `setTimeout`. */
  readonly clock: Clock
  /**
   * The device's simulation stream (seed + device id). Kind capabilities draw from it in a fixed order; a plug-in
   * must use {@link fork} instead, so that plugging it in leaves the simulation (and its telemetry) unchanged.
   */
  readonly rng: Random
  /** A random stream of the plug-in's own: depends only on the fleet seed, the device id and `name`. */
  fork: (name: string) => Random
  readonly topics: Topics
  /** Connected to the broker right now. */
  readonly connected: boolean
  /** The firmware version the device runs now. */
  readonly firmware: string
  /** Change the firmware version: the reported `firmware` follows and the retained `info` is published again. */
  setFirmware: (version: string) => void
  /** Publish an event `{ts, seq, …data}` on `{p}/{id}/events/{name}` (QoS 1). */
  emitEvent: (name: string, data?: Record<string, unknown>) => void
  /** The reported state may have changed: it is published once after the current turn if it differs. */
  stateChanged: () => void
  /** Log through the device's logger and, at or above the publish level, on its `log` topic. */
  log: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void
  /** Publish on any topic (dropped while disconnected, like everything the device sends). */
  publish: (topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain?: boolean }) => void
  /**
   * Reboot: a graceful disconnect (retained `offline`, DISCONNECT), `offlineMs` of clock time offline, then a new
   * connection (`online`, `info`, reported state). With `firmware`, the device comes back running that version.
   * Telemetry timers keep ticking meanwhile (the simulation goes on; nothing is sent while offline). Resolves when
   * the device is back online; rejects if it is stopped meanwhile or the broker refuses it.
   */
  reboot: (options: { offlineMs: number; firmware?: string }) => Promise<void>
}

/** Makes a capability for one device. Fleets take factories, since each device needs its own instance. */
export type CapabilityFactory = (ctx: DeviceContext) => Capability
