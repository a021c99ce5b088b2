/**
 * Smart speaker (Xiaomi-style, e.g. `xiaomi.speaker.l09a`): power, volume 0–100, mute, playback of a playlist,
 * spoken answers (`say`), Wi-Fi RSSI. The voice bridge (bridge/) drives it only through its commands.
 */
import { clamp } from '../core/random.ts'
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

export class Speaker extends Device<'speaker'> {
  power = true
  volume: number
  muted = false
  playback: Playback = 'stopped'
  trackIndex = 0
  /** Seconds into the current track. */
  position = 0
  rssi: number
  /** What the speaker said last (the voice bridge's spoken answer). */
  lastUtterance: string | undefined

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    super(spec, runtime)
    this.volume = this.rng.int(20, 60)
    this.rssi = Math.round(this.rng.float(-75, -40))
  }

  private requireOn (): void {
    if (!this.power) throw new CommandError('DEVICE_OFF', `${this.spec.name} is off; send turnOn first`)
  }

  get track (): string { return PLAYLIST[this.trackIndex % PLAYLIST.length] as string }

  protected readonly commands: CommandHandlers<'speaker'> = {
    turnOn: () => { this.power = true; return { power: true } },
    turnOff: () => { this.power = false; if (this.playback === 'playing') this.playback = 'paused'; return { power: false } },
    setVolume: ({ level }) => {
      this.requireOn()
      this.volume = level
      return { volume: this.volume }
    },
    changeVolume: ({ delta }) => {
      this.requireOn()
      this.volume = clamp(this.volume + delta, 0, 100)
      return { volume: this.volume }
    },
    mute: () => { this.requireOn(); this.muted = true; return { muted: true } },
    unmute: () => { this.requireOn(); this.muted = false; return { muted: false } },
    play: ({ track }) => {
      this.requireOn()
      if (track !== undefined) {
        const i = PLAYLIST.findIndex((t) => t.toLowerCase().includes(track.toLowerCase()))
        if (i < 0) throw new CommandError('INVALID_VALUE', `no track matching ${JSON.stringify(track)} in the playlist`)
        this.trackIndex = i
        this.position = 0
      }
      this.playback = 'playing'
      return { playback: this.playback, track: this.track }
    },
    pause: () => {
      this.requireOn()
      if (this.playback !== 'playing') throw new CommandError('INVALID_VALUE', `nothing is playing (playback is ${this.playback})`)
      this.playback = 'paused'
      return { playback: this.playback, track: this.track }
    },
    resume: () => {
      this.requireOn()
      if (this.playback !== 'paused') throw new CommandError('INVALID_VALUE', `nothing is paused (playback is ${this.playback})`)
      this.playback = 'playing'
      return { playback: this.playback, track: this.track }
    },
    next: () => {
      this.requireOn()
      this.trackIndex = (this.trackIndex + 1) % PLAYLIST.length
      this.position = 0
      if (this.playback === 'stopped') this.playback = 'playing'
      return { playback: this.playback, track: this.track }
    },
    stop: () => { this.requireOn(); this.playback = 'stopped'; this.position = 0; return { playback: this.playback } },
    say: ({ text }) => {
      this.requireOn()
      this.lastUtterance = text
      this.emitEvent('spoke', { text })
      return { spoken: text }
    }
  }

  protected readonly desiredProperties: DesiredSetters<'speaker'> = {
    power: (on) => { if (on) this.commands.turnOn({}); else this.commands.turnOff({}) },
    volume: (v) => { this.requireOn(); this.volume = v },
    muted: (v) => { this.requireOn(); this.muted = v }
  }

  protected step (dtMs: number): void {
    if (this.playback === 'playing' && this.power) {
      this.position += dtMs / 1000
      // About 3.5 minutes a track, then the next one.
      if (this.position >= 210) { this.position = 0; this.trackIndex = (this.trackIndex + 1) % PLAYLIST.length }
    }
    this.rssi = Math.round(clamp(this.rssi + this.rng.normal(0, 1.5), -90, -30))
  }

  protected sample (): Record<string, unknown> {
    return { power: this.power, volume: this.volume, muted: this.muted, playback: this.playback, track: this.track, rssi: this.rssi }
  }

  reportedState (): Record<string, unknown> {
    return { power: this.power, volume: this.volume, muted: this.muted, playback: this.playback, track: this.track }
  }
}
