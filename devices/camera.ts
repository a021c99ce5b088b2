/**
 * Security camera (Xiaomi-style, e.g. `xiaomi.camera.c300`): power, a live stream, night vision, motion events,
 * snapshots, and a microSD card that fills up and then loops (oldest recordings overwritten).
 *
 * The model:
 *
 * - **Motion** arrives as a Poisson process whose rate depends on the room and the local hour
 *   ({@link motionRatePerHour}): outdoor rooms (garden, front door, garage) see more, and every room sees far less
 *   at night. Arrivals are evaluated inside `step(dtMs)` by time rescaling: the gap to the next arrival is drawn as
 *   `rng.exponential(1)` in units of "expected events", and each step uses up `rate × dt` of it, so the rate may
 *   change from hour to hour and the run stays deterministic for a seed. Each arrival emits `motion {zone, confidence}`
 *   and records a short clip to the card.
 * - **Storage** grows while streaming (the stream is recorded, at the stream quality's bitrate), with each motion
 *   clip, and with each snapshot. When the card is full, the oldest recordings are overwritten: the used space
 *   stays at the capacity and `overwrittenMb` counts what was lost; event `storageFull` is emitted once per fill.
 * - **Night mode** `on` / `off` / `auto`; with `auto` the infrared light is on from 19:00 to 07:00 local time.
 *
 * A camera is two capabilities: {@link PowerCapability} (shared with the speaker) and {@link CameraCapability}.
 *
 * When off (privacy mode) the camera stays connected and keeps sending telemetry, sees no motion, and answers every
 * command but `turnOn` and `turnOff` (both idempotent) with `DEVICE_OFF`.
 */
import { clamp } from '../core/random.ts'
import type { CommandArgsOf } from '../core/catalogue.ts'
import { CommandError } from './command-error.ts'
import type { Capability, DeviceContext } from './capability.ts'
import { PowerCapability } from './capabilities/power.ts'
import { Device, type CommandHandlers, type DesiredSetters, type DeviceRuntime, type DeviceSpec } from './device.ts'
import { HOUR_MS, localDay, localHour, utcOffsetMs } from './local-time.ts'

export const NIGHT_MODES = ['on', 'off', 'auto'] as const
export type NightMode = typeof NIGHT_MODES[number]

/** Stream qualities and their bitrates, megabits per second. */
export const STREAM_BITRATES_MBPS = Object.freeze({ '720p': 0.8, '1080p': 1.5, '2k': 2.5 })
export type StreamQuality = keyof typeof STREAM_BITRATES_MBPS
export const STREAM_QUALITIES = Object.keys(STREAM_BITRATES_MBPS) as readonly StreamQuality[]
export const DEFAULT_STREAM_QUALITY: StreamQuality = '2k'

/** A 32 GB microSD card, in MB. */
export const STORAGE_CAPACITY_MB = 32 * 1024
/** Seconds of video a motion event records. */
export const MOTION_CLIP_SECONDS = 10
/** Rooms that face outdoors: more motion by day. */
export const OUTDOOR_ROOMS: readonly string[] = Object.freeze(['garden', 'front door', 'garage'])

/** Motion events per hour, by day (07:00–20:00 local) and by night. */
export const MOTION_RATES_PER_HOUR = Object.freeze({
  outdoor: { day: 6, night: 1 },
  indoor: { day: 2, night: 0.2 }
})

const ZONES: Readonly<Record<string, readonly string[]>> = {
  'front door': ['porch', 'path', 'street'],
  garden: ['lawn', 'gate', 'terrace'],
  garage: ['door', 'driveway', 'workbench'],
  'living room': ['sofa', 'doorway', 'window']
}
const DEFAULT_ZONES: readonly string[] = ['doorway', 'centre', 'window']

/** Expected motion events per hour for a room at a local hour of day (fractional hours, 0–24). */
export function motionRatePerHour (room: string, hour: number): number {
  const rates = OUTDOOR_ROOMS.includes(room) ? MOTION_RATES_PER_HOUR.outdoor : MOTION_RATES_PER_HOUR.indoor
  return hour >= 7 && hour < 20 ? rates.day : rates.night
}

/** Is the infrared light on for a night mode at a local hour? `auto` switches it on from 19:00 to 07:00. */
export function infraredOn (mode: NightMode, hour: number): boolean {
  return mode === 'on' || (mode === 'auto' && (hour >= 19 || hour < 7))
}

const MB = 1024 * 1024

/** Everything a camera does but power: stream, snapshots, night vision, motion, storage, Wi-Fi signal. */
export class CameraCapability implements Capability {
  readonly name = 'camera'
  streaming = false
  quality: StreamQuality = DEFAULT_STREAM_QUALITY
  nightMode: NightMode = 'auto'
  /** MB used on the card; never above {@link STORAGE_CAPACITY_MB}. */
  storageUsedMb: number
  /** MB of old recordings overwritten since start (the card loops when full). */
  overwrittenMb = 0
  motionEventsToday = 0
  /** Clock time of the last motion event, or null. */
  lastMotionAt: number | null = null
  /** Snapshots taken since start; the next one is number `snapshots + 1`. */
  snapshots = 0
  rssi: number

  private readonly ctx: DeviceContext
  private readonly powerCap: PowerCapability
  private readonly utcOffset: number
  private day: number
  /** Expected events still to go before the next arrival (time rescaling, see the class comment). */
  private untilNextMotion: number
  private storageFullNotified = false

  constructor (ctx: DeviceContext, power: PowerCapability) {
    this.ctx = ctx
    this.powerCap = power
    this.utcOffset = utcOffsetMs(ctx.spec)
    // Draw order is part of reproducibility: RSSI, storage, then the first motion gap.
    this.rssi = Math.round(this.ctx.rng.float(-80, -45))
    // A card that has been in use for a while.
    this.storageUsedMb = Math.round(this.ctx.rng.float(0.05, 0.6) * STORAGE_CAPACITY_MB)
    this.untilNextMotion = this.ctx.rng.exponential(1)
    this.day = localDay(this.ctx.clock.now(), this.utcOffset)
  }

  /** The stream's address: an identifier in the `.homefleet.local` namespace, not a server that answers. */
  get streamUrl (): string { return `rtsp://${this.ctx.id}.cam.homefleet.local/live` }
  get infrared (): boolean { return infraredOn(this.nightMode, localHour(this.ctx.clock.now(), this.utcOffset)) }
  get zones (): readonly string[] { return ZONES[this.ctx.spec.room] ?? DEFAULT_ZONES }

  private get power (): boolean { return this.powerCap.on }

  /** Switching off stops the stream. */
  powerOff (): void { this.streaming = false }

  // Methods closing over `cap`, not arrow-function properties: one object per device either way, but tsx gives every
  // arrow stored under a key a `name` property of its own, ~250 bytes each (docs/devices.md, "Memory per device").
  readonly commands = ((cap: CameraCapability) => ({
    startStream ({ quality }) {
      cap.powerCap.requireOn()
      if (quality !== undefined) cap.quality = quality
      cap.streaming = true
      return { streaming: true, url: cap.streamUrl, quality: cap.quality }
    },
    stopStream () { cap.powerCap.requireOn(); cap.streaming = false; return { streaming: false } },
    snapshot ({ quality }) {
      cap.powerCap.requireOn()
      const ts = cap.ctx.clock.now()
      // About 350 KB for a 2K JPEG at quality 85; infrared images are greyscale and compress better.
      const base = clamp(cap.ctx.rng.normal(350_000, 40_000), 200_000, 500_000)
      const bytes = Math.round(base * jpegSize(quality) / jpegSize(85) * (cap.infrared ? 0.7 : 1))
      cap.snapshots++
      cap.store(bytes / MB)
      return { image: `snap://${cap.ctx.id}/${cap.snapshots}.jpg`, ts, bytes }
    },
    setNightMode (args) {
      cap.powerCap.requireOn()
      cap.nightMode = readNightMode(args)
      return { nightMode: cap.nightMode, infrared: cap.infrared }
    }
  } satisfies Partial<CommandHandlers<'camera'>>))(this)

  readonly desired = ((cap: CameraCapability) => ({
    nightMode (mode) { cap.powerCap.requireOn(); cap.nightMode = mode },
    streaming (on) { cap.powerCap.requireOn(); cap.streaming = on }
  } satisfies Partial<DesiredSetters<'camera'>>))(this)

  /** Add to the card; when full, the oldest recordings are overwritten (loop recording). */
  private store (mb: number): void {
    this.storageUsedMb += mb
    if (this.storageUsedMb < STORAGE_CAPACITY_MB) return
    this.overwrittenMb += this.storageUsedMb - STORAGE_CAPACITY_MB
    this.storageUsedMb = STORAGE_CAPACITY_MB
    if (!this.storageFullNotified) {
      this.storageFullNotified = true
      this.ctx.emitEvent('storageFull', { capacityMb: STORAGE_CAPACITY_MB })
      this.ctx.stateChanged()
    }
  }

  step (dtMs: number): void {
    const now = this.ctx.clock.now()
    const day = localDay(now, this.utcOffset)
    if (day !== this.day) {
      this.day = day
      this.motionEventsToday = 0
    }
    this.rssi = Math.round(clamp(this.rssi + this.ctx.rng.normal(0, 1.5), -90, -30))
    if (!this.power) return

    if (this.streaming) this.store(STREAM_BITRATES_MBPS[this.quality] / 8 * dtMs / 1000)

    // Poisson arrivals by time rescaling: `expected` is the mean number of events in this step.
    let expected = motionRatePerHour(this.ctx.spec.room, localHour(now, this.utcOffset)) * dtMs / HOUR_MS
    while (expected >= this.untilNextMotion) {
      expected -= this.untilNextMotion
      this.untilNextMotion = this.ctx.rng.exponential(1)
      this.motion()
    }
    this.untilNextMotion -= expected
  }

  private motion (): void {
    this.motionEventsToday++
    this.lastMotionAt = this.ctx.clock.now()
    const zone = this.ctx.rng.pick(this.zones)
    const confidence = Math.round(this.ctx.rng.float(0.55, 0.99) * 100) / 100
    // While streaming the stream is recorded already; otherwise motion records a clip of its own.
    if (!this.streaming) this.store(STREAM_BITRATES_MBPS[this.quality] / 8 * MOTION_CLIP_SECONDS)
    this.ctx.emitEvent('motion', { zone, confidence })
  }

  telemetry (): Record<string, unknown> {
    return {
      streaming: this.streaming,
      nightMode: this.nightMode,
      infrared: this.power && this.infrared,
      storageUsedMb: Math.round(this.storageUsedMb * 10) / 10,
      motionEventsToday: this.motionEventsToday,
      rssi: this.rssi
    }
  }

  reported (): Record<string, unknown> {
    return {
      streaming: this.streaming,
      streamUrl: this.streaming ? this.streamUrl : null,
      quality: this.quality,
      nightMode: this.nightMode,
      storageUsedMb: Math.round(this.storageUsedMb * 10) / 10,
      storageCapacityMb: STORAGE_CAPACITY_MB,
      overwrittenMb: Math.round(this.overwrittenMb * 10) / 10,
      motionEventsToday: this.motionEventsToday,
      lastMotionAt: this.lastMotionAt
    }
  }
}

export class Camera extends Device<'camera'> {
  readonly powerCapability: PowerCapability
  readonly camera: CameraCapability

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    super(spec, runtime)
    const power = this.use(new PowerCapability(spec.name, () => { camera.powerOff() }))
    const camera = this.use(new CameraCapability(this.context, power))
    this.powerCapability = power
    this.camera = camera
  }

  // The camera's state, read where it lives.
  get power (): boolean { return this.powerCapability.on }
  get streaming (): boolean { return this.camera.streaming }
  get quality (): StreamQuality { return this.camera.quality }
  get nightMode (): NightMode { return this.camera.nightMode }
  get infrared (): boolean { return this.camera.infrared }
  get storageUsedMb (): number { return this.camera.storageUsedMb }
  set storageUsedMb (mb: number) { this.camera.storageUsedMb = mb }
  get overwrittenMb (): number { return this.camera.overwrittenMb }
  get motionEventsToday (): number { return this.camera.motionEventsToday }
  get lastMotionAt (): number | null { return this.camera.lastMotionAt }
  get snapshots (): number { return this.camera.snapshots }
  get streamUrl (): string { return this.camera.streamUrl }
}

/** Relative JPEG size at a quality setting (10–100). */
function jpegSize (quality: number): number {
  return 0.25 + 0.75 * quality / 100
}

/** `{on}` or `{mode}` (the catalogue checked each, and that one is given); both only when they agree. */
function readNightMode (args: CommandArgsOf<'camera', 'setNightMode'>): NightMode {
  const fromOn = args.on === undefined ? undefined : args.on ? 'on' : 'off'
  if (fromOn !== undefined && args.mode !== undefined && fromOn !== args.mode) {
    throw new CommandError('INVALID_VALUE', `"on": ${String(args.on)} and "mode": ${JSON.stringify(args.mode)} disagree; give one of them`)
  }
  return args.mode ?? fromOn ?? 'auto'
}
