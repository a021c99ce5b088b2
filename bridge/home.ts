/**
 * The home as bridge services see it, learned over MQTT the way Home Assistant's MQTT discovery learns devices: from
 * the retained `info` (identity, room, the commands the device answers), `status` (online / offline, the last will)
 * and `state/reported` (volume, battery…) of every device under the prefix. The bridge never imports devices/: this
 * model is all it knows, and it follows joins, leaves and state changes as they are published.
 *
 * A device whose status goes `offline` stays known by name (so "turn on the kitchen speaker" can answer that it is
 * offline) but is no longer a target of a room, a kind or "all". A device whose retained `info` is cleared (an empty
 * retained payload, [MQTT-3.3.1-10]) is forgotten.
 */
import { resolveRoom } from '../core/rooms.ts'
import { STATUS_OFFLINE, STATUS_ONLINE, type Topics } from '../core/topics.ts'

export interface KnownDevice {
  readonly id: string
  name: string
  kind: string
  /** Room id (core/rooms.ts), or the room as the device gave it when it is not a known room. */
  room: string
  home: string | undefined
  firmware: string | undefined
  /** The commands its `info` advertises. */
  commands: ReadonlySet<string>
  online: boolean
  /** Latest reported state (`state/reported`), `{}` until one arrives. */
  reported: Record<string, unknown>
  /** When `reported` was last updated (ms since the epoch). */
  reportedAt: number | undefined
}

/** What a listener hears about: a device learned or changed (`info`), gone online/offline, forgotten. */
export type HomeChange =
  | { type: 'joined' | 'updated' | 'online' | 'offline' | 'reported'; device: KnownDevice }
  | { type: 'forgotten'; id: string; name: string }

/** A name's lookup key: case, accents and spacing ignored (`Radio  Béa` = `radio bea`). */
export function nameKey (name: string): string {
  return name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim()
}

export class HomeModel {
  private readonly devices = new Map<string, KnownDevice>()
  /** Devices by {@link nameKey}: names are not unique across homes. */
  private readonly names = new Map<string, Set<KnownDevice>>()
  /** Status and reported state that arrived before the device's info (retained order is not guaranteed). */
  private readonly early = new Map<string, { online?: boolean; reported?: Record<string, unknown> }>()
  private readonly listeners = new Set<(change: HomeChange) => void>()
  /** Payloads that were not what the contract says, by topic (logged once each by the owner). */
  badPayloads = 0

  constructor (private readonly topics: Topics, private readonly now: () => number = Date.now) {}

  /** The filters to subscribe to: every device's info, status and reported state. */
  filters (): string[] {
    return [this.topics.filter('info'), this.topics.filter('status'), this.topics.filter('reported')]
  }

  /** Feed one MQTT message; returns false when the topic is not one of ours (so the caller can try others). */
  handle (topic: string, payload: Buffer): boolean {
    const t = this.topics.parse(topic)
    if (t === undefined || !('deviceId' in t)) return false
    switch (t.channel) {
      case 'info': this.onInfo(t.deviceId, payload); return true
      case 'status': this.onStatus(t.deviceId, payload.toString('utf8')); return true
      case 'reported': this.onReported(t.deviceId, payload); return true
      default: return false
    }
  }

  /** Listen to changes; returns the function that stops listening. */
  onChange (listener: (change: HomeChange) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  get (id: string): KnownDevice | undefined { return this.devices.get(id) }
  /** Every device called `name` (case and accents ignored). */
  byName (name: string): KnownDevice[] { return [...(this.names.get(nameKey(name)) ?? [])] }
  all (): IterableIterator<KnownDevice> { return this.devices.values() }
  get size (): number { return this.devices.size }

  private emit (change: HomeChange): void {
    if (change.type === 'joined') {
      const key = nameKey(change.device.name)
      let set = this.names.get(key)
      if (set === undefined) { set = new Set(); this.names.set(key, set) }
      set.add(change.device)
    } else if (change.type === 'forgotten') {
      const key = nameKey(change.name)
      const set = this.names.get(key)
      if (set !== undefined) for (const d of set) if (d.id === change.id) set.delete(d)
      if (set?.size === 0) this.names.delete(key)
    }
    for (const l of this.listeners) l(change)
  }

  private onInfo (id: string, payload: Buffer): void {
    if (payload.length === 0) {
      const d = this.devices.get(id)
      if (d !== undefined) { this.devices.delete(id); this.emit({ type: 'forgotten', id, name: d.name }) }
      this.early.delete(id)
      return
    }
    let info: Record<string, unknown>
    try {
      info = JSON.parse(payload.toString('utf8')) as Record<string, unknown>
      if (typeof info !== 'object' || info === null || typeof info.kind !== 'string') throw new Error('not an info object')
    } catch {
      this.badPayloads++
      return
    }
    const str = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined
    const roomText = str(info.room) ?? ''
    const fields = {
      name: str(info.name) ?? id,
      kind: info.kind,
      room: resolveRoom(roomText) ?? roomText,
      home: str(info.home),
      firmware: str(info.firmware),
      commands: new Set(Array.isArray(info.commands) ? info.commands.filter((c): c is string => typeof c === 'string') : [])
    }
    const existing = this.devices.get(id)
    if (existing !== undefined) {
      const renamed = existing.name !== fields.name
      if (renamed) this.emit({ type: 'forgotten', id, name: existing.name })
      Object.assign(existing, fields)
      this.emit({ type: renamed ? 'joined' : 'updated', device: existing })
      return
    }
    const early = this.early.get(id)
    this.early.delete(id)
    const device: KnownDevice = { id, ...fields, online: early?.online ?? false, reported: early?.reported ?? {}, reportedAt: early?.reported === undefined ? undefined : this.now() }
    this.devices.set(id, device)
    this.emit({ type: 'joined', device })
  }

  private onStatus (id: string, status: string): void {
    const online = status === STATUS_ONLINE
    if (!online && status !== STATUS_OFFLINE) { this.badPayloads++; return }
    const d = this.devices.get(id)
    if (d === undefined) { this.early.set(id, { ...this.early.get(id), online }); return }
    if (d.online === online) return
    d.online = online
    this.emit({ type: online ? 'online' : 'offline', device: d })
  }

  private onReported (id: string, payload: Buffer): void {
    let reported: Record<string, unknown>
    try {
      reported = JSON.parse(payload.toString('utf8')) as Record<string, unknown>
      if (typeof reported !== 'object' || reported === null) throw new Error('not an object')
    } catch {
      if (payload.length > 0) this.badPayloads++
      return
    }
    const d = this.devices.get(id)
    if (d === undefined) { this.early.set(id, { ...this.early.get(id), reported }); return }
    d.reported = reported
    d.reportedAt = this.now()
    this.emit({ type: 'reported', device: d })
  }
}
