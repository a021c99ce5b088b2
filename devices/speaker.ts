/**
 * Smart speaker (Xiaomi-style, e.g. `xiaomi.speaker.l09a`): power, volume 0–100, mute, playback of a playlist,
 * spoken answers (`say`), Wi-Fi RSSI. The voice bridge (bridge/) drives it only through its commands.
 *
 * A speaker is two capabilities: {@link PowerCapability} (shared with the camera) and {@link MediaCapability}.
 */
import { clamp } from '../core/random.ts'
import type { Capability, DeviceContext } from './capability.ts'
import { PowerCapability } from './capabilities/power.ts'
import { CommandError } from './command-error.ts'
import { Device, type CommandHandlers, type DesiredSetters, type DeviceRuntime, type DeviceSpec } from './device.ts'

export type Playback = 'playing' | 'paused' | 'stopped'

/** The built-in playlist a speaker cycles through with `next`. */
export const PLAYLIST = [
  'Daft Punk — Around the World',
  'Nina Simone — Feeling Good',
  'Stromae — Alors on danse',
  'Miles Davis — So What',
  'Christine and the Queens — Tilted',
  'Radiohead — Weird Fishes'
] as const

/** Volume, mute, playback and speech, plus the speaker's Wi-Fi signal. Needs the speaker's power. */
export class MediaCapability implements Capability {
  readonly name = 'media'
  volume: number
  muted = false
  playback: Playback = 'stopped'
  trackIndex = 0
  /** Seconds into the current track. */
  position = 0
  rssi: number
  /** What the speaker said last (the voice bridge's spoken answer). */
  lastUtterance: string | undefined
  private readonly ctx: DeviceContext
  private readonly power: PowerCapability

  constructor (ctx: DeviceContext, power: PowerCapability) {
    this.ctx = ctx
    this.power = power
    // Draw order is part of reproducibility: volume, then RSSI.
    this.volume = ctx.rng.int(20, 60)
    this.rssi = Math.round(ctx.rng.float(-75, -40))
  }

  get track (): string { return PLAYLIST[this.trackIndex % PLAYLIST.length] as string }

  /** Switching off pauses what is playing. */
  powerOff (): void { if (this.playback === 'playing') this.playback = 'paused' }

  // Methods closing over `cap`, not arrow-function properties: one object per device either way, but tsx gives every
  // arrow stored under a key a `name` property of its own, ~250 bytes each (docs/devices.md, "Memory per device").
  readonly commands = ((cap: MediaCapability) => ({
    setVolume ({ level }) {
      cap.power.requireOn()
      cap.volume = level
      return { volume: cap.volume }
    },
    changeVolume ({ delta }) {
      cap.power.requireOn()
      cap.volume = clamp(cap.volume + delta, 0, 100)
      return { volume: cap.volume }
    },
    mute () { cap.power.requireOn(); cap.muted = true; return { muted: true } },
    unmute () { cap.power.requireOn(); cap.muted = false; return { muted: false } },
    play ({ track }) {
      cap.power.requireOn()
      if (track !== undefined) {
        const i = PLAYLIST.findIndex((t) => t.toLowerCase().includes(track.toLowerCase()))
        if (i < 0) throw new CommandError('INVALID_VALUE', `no track matching ${JSON.stringify(track)} in the playlist`)
        cap.trackIndex = i
        cap.position = 0
      }
      cap.playback = 'playing'
      return { playback: cap.playback, track: cap.track }
    },
    pause () {
      cap.power.requireOn()
      if (cap.playback !== 'playing') throw new CommandError('INVALID_VALUE', `nothing is playing (playback is ${cap.playback})`)
      cap.playback = 'paused'
      return { playback: cap.playback, track: cap.track }
    },
    resume () {
      cap.power.requireOn()
      if (cap.playback !== 'paused') throw new CommandError('INVALID_VALUE', `nothing is paused (playback is ${cap.playback})`)
      cap.playback = 'playing'
      return { playback: cap.playback, track: cap.track }
    },
    next () {
      cap.power.requireOn()
      cap.trackIndex = (cap.trackIndex + 1) % PLAYLIST.length
      cap.position = 0
      if (cap.playback === 'stopped') cap.playback = 'playing'
      return { playback: cap.playback, track: cap.track }
    },
    stop () { cap.power.requireOn(); cap.playback = 'stopped'; cap.position = 0; return { playback: cap.playback } },
    say ({ text }) {
      cap.power.requireOn()
      cap.lastUtterance = text
      cap.ctx.emitEvent('spoke', { text })
      return { spoken: text }
    }
  } satisfies Partial<CommandHandlers<'speaker'>>))(this)

  readonly desired = ((cap: MediaCapability) => ({
    volume (v) { cap.power.requireOn(); cap.volume = v },
    muted (v) { cap.power.requireOn(); cap.muted = v }
  } satisfies Partial<DesiredSetters<'speaker'>>))(this)

  step (dtMs: number): void {
    if (this.playback === 'playing' && this.power.on) {
      this.position += dtMs / 1000
      // About 3.5 minutes a track, then the next one.
      if (this.position >= 210) { this.position = 0; this.trackIndex = (this.trackIndex + 1) % PLAYLIST.length }
    }
    this.rssi = Math.round(clamp(this.rssi + this.ctx.rng.normal(0, 1.5), -90, -30))
  }

  telemetry (): Record<string, unknown> {
    return { volume: this.volume, muted: this.muted, playback: this.playback, track: this.track, rssi: this.rssi }
  }

  reported (): Record<string, unknown> {
    return { volume: this.volume, muted: this.muted, playback: this.playback, track: this.track }
  }
}

export class Speaker extends Device<'speaker'> {
  readonly powerCapability: PowerCapability
  readonly media: MediaCapability

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    super(spec, runtime)
    const power = this.use(new PowerCapability(spec.name, () => { media.powerOff() }))
    const media = this.use(new MediaCapability(this.context, power))
    this.powerCapability = power
    this.media = media
  }

  // The speaker's state, read (and in tests set) where it lives.
  get power (): boolean { return this.powerCapability.on }
  get volume (): number { return this.media.volume }
  get muted (): boolean { return this.media.muted }
  get playback (): Playback { return this.media.playback }
  get track (): string { return this.media.track }
  get trackIndex (): number { return this.media.trackIndex }
  get lastUtterance (): string | undefined { return this.media.lastUtterance }
}
