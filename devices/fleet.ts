/**
 * The fleet: plans device specs from a description (pure, seedless: ids and rooms follow from the description),
 * spawns them on one broker target, connects them at a bounded rate, and stops them all.
 */
import type { CapabilityFactory } from './capability.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { delay, fanOutSignal, systemClock, type Clock } from '../core/clock.ts'
import { Random } from '../core/random.ts'
import { silentLogger, type Logger, type LogLevel } from '../core/logger.ts'
import { createTopics, DEFAULT_PREFIX, type Topics } from '../core/topics.ts'
import { globMatcher } from '../core/glob.ts'
import { FleetError } from '../core/errors.ts'
import { IssueCollector } from '../core/options.ts'
import { DEVICE_COUNTER_NAMES, DEVICE_KINDS, zeroCounters, type Device, type DeviceCounters, type DeviceKind, type DeviceRuntime, type DeviceSpec } from './device.ts'
import { createDevice } from './kinds.ts'
import { DEFAULT_FIRMWARE, DEFAULT_MODELS, DEFAULT_TELEMETRY_MS, DEMO_ROOMS, planHome, resolveRoom, roomKey, slug } from './home.ts'

/** A block of generated devices of one kind. */
export interface DeviceGroupDescription {
  kind: DeviceKind
  count: number
  /** Room for every device of the group; default: the demo rooms in turn. */
  room?: string
  /** Id prefix; default the kind: `band-0001`, `band-0002`, … */
  idPrefix?: string
  model?: string
  firmware?: string
  telemetryIntervalMs?: number
  tags?: Record<string, string>
}

export interface FleetDescription {
  /** Include the built-in demo home (ids `demo-…`). Default true. */
  demoHome?: boolean
  /** Generated homes of the demo shape, 9 devices each (ids `home-0001-…`). Default 0. */
  homes?: number
  /** Further generated devices by kind. */
  groups?: DeviceGroupDescription[]
  /** Firmware version per kind (default per kind in devices/home.ts). */
  firmware?: Partial<Record<DeviceKind, string>>
  /** Telemetry period per kind, milliseconds. */
  telemetryIntervalMs?: Partial<Record<DeviceKind, number>>
}

/** Upper bound on one fleet, to keep a typo (`count: 1000000`) from eating the machine. */
export const MAX_FLEET_SIZE = 100_000

/** Turn a description into device specs. Throws FLEET_ERR_OPTIONS_INVALID naming every bad field. */
export function planFleet (description: FleetDescription = {}): DeviceSpec[] {
  const c = new IssueCollector()
  c.integer('homes', description.homes, 0, 10_000)
  for (const [i, g] of (description.groups ?? []).entries()) {
    c.oneOf(`groups[${i}].kind`, g.kind, DEVICE_KINDS)
    c.integer(`groups[${i}].count`, g.count, 0, MAX_FLEET_SIZE)
    c.integer(`groups[${i}].telemetryIntervalMs`, g.telemetryIntervalMs, 10, 86_400_000)
    c.string(`groups[${i}].room`, g.room)
    if (g.idPrefix !== undefined && slug(g.idPrefix) !== g.idPrefix) c.add(`groups[${i}].idPrefix`, `must be lower-case letters, digits and dashes, got ${JSON.stringify(g.idPrefix)}`)
  }
  for (const [kind, ms] of Object.entries(description.telemetryIntervalMs ?? {})) c.integer(`telemetryIntervalMs.${kind}`, ms, 10, 86_400_000)
  c.throwIfAny('fleet')

  const specs: DeviceSpec[] = []
  const common = {
    ...(description.firmware === undefined ? {} : { firmware: description.firmware }),
    ...(description.telemetryIntervalMs === undefined ? {} : { telemetryIntervalMs: description.telemetryIntervalMs })
  }
  if (description.demoHome !== false) specs.push(...planHome({ home: 'demo', ...common }))
  const homes = description.homes ?? 0
  const width = Math.max(4, String(homes).length)
  for (let h = 1; h <= homes; h++) specs.push(...planHome({ home: `home-${String(h).padStart(width, '0')}`, ...common }))

  for (const g of description.groups ?? []) {
    const prefix = g.idPrefix ?? g.kind
    const w = Math.max(4, String(g.count).length)
    for (let i = 1; i <= g.count; i++) {
      const room = g.room ?? DEMO_ROOMS[(i - 1) % DEMO_ROOMS.length]?.id ?? 'living room'
      const num = String(i).padStart(w, '0')
      specs.push({
        id: `${prefix}-${num}`,
        kind: g.kind,
        model: g.model ?? DEFAULT_MODELS[g.kind],
        room,
        name: `${g.kind} ${num}`,
        firmware: g.firmware ?? description.firmware?.[g.kind] ?? DEFAULT_FIRMWARE[g.kind],
        home: prefix,
        telemetryIntervalMs: g.telemetryIntervalMs ?? description.telemetryIntervalMs?.[g.kind] ?? DEFAULT_TELEMETRY_MS[g.kind],
        tags: { group: prefix, room: slug(room), ...g.tags }
      })
    }
  }
  if (specs.length > MAX_FLEET_SIZE) throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `a fleet may have at most ${MAX_FLEET_SIZE} devices, this one has ${specs.length}`)
  const seen = new Set<string>()
  for (const s of specs) {
    if (seen.has(s.id)) throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `device id ${s.id} appears twice; give the groups different idPrefix values`)
    seen.add(s.id)
  }
  return specs
}

/** Which devices a step, a command or a log filter means. Every given field must match (AND); none given: all. */
export interface DeviceSelector {
  /** Device ids or globs (`home-00*-speaker`). */
  id?: string | readonly string[] | undefined
  kind?: DeviceKind | undefined
  /** Room id or any of its names in English or French (`cuisine` = `kitchen`), compared case- and accent-insensitively (`Living Room` = `living room`, see {@link roomKey}). */
  room?: string | undefined
  home?: string | undefined
  /** Device names or globs (`kitchen speaker`, `* speaker`). */
  name?: string | readonly string[] | undefined
}

export function selectorMatches (selector: DeviceSelector): (spec: DeviceSpec) => boolean {
  const id = selector.id === undefined ? undefined : globMatcher(selector.id)
  const name = selector.name === undefined ? undefined : globMatcher(selector.name)
  const { kind, home } = selector
  // A room in either language (`cuisine`, `l'entrée`) names the same room as its English id, as in scenarios.
  const room = selector.room === undefined ? undefined : roomKey(resolveRoom(selector.room) ?? selector.room)
  // A fleet has few distinct room names: normalise each once, not once per device per call.
  const keys = new Map<string, string>()
  const keyOf = (r: string): string => {
    let k = keys.get(r)
    if (k === undefined) keys.set(r, k = roomKey(r))
    return k
  }
  return (s) =>
    (id === undefined || id(s.id)) &&
    (kind === undefined || s.kind === kind) &&
    (home === undefined || s.home === home) &&
    (name === undefined || name(s.name)) &&
    (room === undefined || keyOf(s.room) === room)
}

export interface FleetOptions {
  target: BrokerTarget
  /** Topic prefix (default `home`). */
  prefix?: string
  /** Seed of every random choice (default 1). */
  seed?: number | string
  clock?: Clock
  logger?: Logger
  publishLogLevel?: LogLevel | 'silent'
  /** Connections started per second (default 2,000; 0 = as fast as possible). */
  connectRate?: number
  /** Connections in progress at once (default 200). */
  connectConcurrency?: number
  connectTimeoutMs?: number
  /** The scenario run the fleet belongs to, stamped on what its devices retain (see DeviceRuntime.runId). */
  runId?: string
  /** Capabilities plugged into every device after its kind's own (e.g. the firmware-update agent). */
  capabilities?: readonly CapabilityFactory[]
}

export interface FleetStartResult {
  devices: number
  /** Wall-clock milliseconds from start() until the last device was online. */
  ms: number
}

export type FleetCounters = DeviceCounters & { devices: number; online: number }

export class Fleet {
  readonly devices: readonly Device[]
  readonly topics: Topics
  readonly clock: Clock
  private readonly byId: Map<string, Device>
  private readonly options: FleetOptions
  private started = false

  constructor (specs: readonly DeviceSpec[], options: FleetOptions) {
    const c = new IssueCollector()
    c.number('connectRate', options.connectRate, 0, 1_000_000)
    c.integer('connectConcurrency', options.connectConcurrency, 1, 100_000)
    c.integer('connectTimeoutMs', options.connectTimeoutMs, 100, 600_000)
    c.throwIfAny('fleet')
    this.options = options
    this.topics = createTopics(options.prefix ?? DEFAULT_PREFIX)
    this.clock = options.clock ?? systemClock
    const runtime: DeviceRuntime = {
      target: options.target,
      topics: this.topics,
      clock: this.clock,
      random: new Random(options.seed ?? 1),
      logger: (options.logger ?? silentLogger).child({ part: 'devices' }),
      ...(options.publishLogLevel === undefined ? {} : { publishLogLevel: options.publishLogLevel }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.runId === undefined ? {} : { runId: options.runId }),
      ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities })
    }
    this.devices = specs.map((s) => createDevice(s, runtime))
    this.byId = new Map(this.devices.map((d) => [d.id, d]))
  }

  get size (): number { return this.devices.length }

  get (id: string): Device | undefined { return this.byId.get(id) }

  select (selector: DeviceSelector): Device[] {
    const match = selectorMatches(selector)
    return this.devices.filter((d) => match(d.spec))
  }

  /**
   * Connect every device, at most `connectRate` new connections a second and `connectConcurrency` in progress.
   * Rejects (after stopping the devices it started) with the first FLEET_ERR_BROKER_* error.
   */
  async start (options: { onProgress?: (online: number, total: number) => void; signal?: AbortSignal } = {}): Promise<FleetStartResult> {
    if (this.started) throw new FleetError('FLEET_ERR_USAGE', 'the fleet is already started')
    this.started = true
    const t0 = performance.now()
    const rate = this.options.connectRate ?? 2000
    const concurrency = this.options.connectConcurrency ?? 200
    const total = this.devices.length
    const fan = fanOutSignal(options.signal)
    const signal = fan.signal
    let next = 0
    let online = 0
    let failure: Error | undefined
    const stopped = (): boolean => failure !== undefined || signal?.aborted === true
    const worker = async (): Promise<void> => {
      while (!stopped() && next < total) {
        const i = next++
        if (rate > 0) {
          // Token pacing: connection i may start no earlier than i / rate seconds after the start.
          const due = t0 + (i * 1000) / rate - performance.now()
          if (due > 0) await delay(due, signal)
          if (stopped()) return
        }
        try {
          await (this.devices[i] as Device).start()
          online++
          if (online % 100 === 0 || online === total) options.onProgress?.(online, total)
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err))
        }
      }
    }
    // allSettled, not all: every worker must have finished before we stop, or a straggler would connect afterwards.
    await Promise.allSettled(Array.from({ length: Math.min(concurrency, Math.max(1, total)) }, () => worker()))
    fan.dispose()
    if (failure !== undefined || signal?.aborted === true) {
      await this.stop()
      throw failure ?? (signal?.reason instanceof Error ? signal.reason : new FleetError('FLEET_ERR_CLOSED', 'fleet start aborted'))
    }
    return { devices: total, ms: performance.now() - t0 }
  }

  /** Stop every device (graceful: each publishes `offline`). Idempotent. */
  async stop (): Promise<void> {
    await Promise.all(this.devices.map((d) => d.stop()))
    this.started = false
  }

  counters (): FleetCounters {
    const out: FleetCounters = { devices: this.devices.length, online: 0, ...zeroCounters() }
    for (const d of this.devices) {
      if (d.connected) out.online++
      for (const name of DEVICE_COUNTER_NAMES) out[name] += d.counters[name]
    }
    return out
  }
}
