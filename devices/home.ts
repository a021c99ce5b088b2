/**
 * Homes: the built-in demo home (used by `npm start` and, later, by the voice bridge) and generated homes of the
 * same shape for a background fleet. Planning is pure: the same inputs give the same device specs.
 */
import type { DeviceKind, DeviceSpec } from './device.ts'

export { ROOMS as DEMO_ROOMS, findRoom, resolveRoom, roomKey, type Room } from '../core/rooms.ts'

/** The model each kind uses unless told otherwise. */
export const DEFAULT_MODELS: Readonly<Record<DeviceKind, string>> = Object.freeze({
  speaker: 'xiaomi.speaker.l09a',
  band: 'xiaomi.band.8',
  camera: 'xiaomi.camera.c300'
})

export const DEFAULT_FIRMWARE: Readonly<Record<DeviceKind, string>> = Object.freeze({
  speaker: '1.4.2',
  band: '2.0.7',
  camera: '5.1.3'
})

/** Telemetry period per kind, milliseconds (bands report vitals more often than speakers). */
export const DEFAULT_TELEMETRY_MS: Readonly<Record<DeviceKind, number>> = Object.freeze({
  speaker: 10_000,
  band: 5_000,
  camera: 15_000
})

/** The demo home's layout: which device kinds stand in which room. */
export const DEMO_LAYOUT: ReadonlyArray<{ kind: DeviceKind; room: string; name: string }> = Object.freeze([
  { kind: 'speaker', room: 'living room', name: 'living room speaker' },
  { kind: 'speaker', room: 'kitchen', name: 'kitchen speaker' },
  { kind: 'speaker', room: 'bedroom', name: 'bedroom speaker' },
  { kind: 'speaker', room: 'office', name: 'office speaker' },
  { kind: 'camera', room: 'front door', name: 'front door camera' },
  { kind: 'camera', room: 'garage', name: 'garage camera' },
  { kind: 'camera', room: 'garden', name: 'garden camera' },
  { kind: 'camera', room: 'living room', name: 'living room camera' },
  // The band is worn, not placed: its room is where the user is, and voice requests call it "my band".
  { kind: 'band', room: 'living room', name: 'my band' }
])

/** `living room` → `living-room`, `porte d'entrée` → `porte-d-entree`: a topic-safe id fragment. */
export function slug (text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

export interface HomeOptions {
  /** Home id, used as the id prefix: `demo` gives `demo-kitchen-speaker`. */
  home: string
  firmware?: Partial<Record<DeviceKind, string>>
  telemetryIntervalMs?: Partial<Record<DeviceKind, number>>
  models?: Partial<Record<DeviceKind, string>>
}

/** The device specs of one home of the demo shape. */
export function planHome (options: HomeOptions): DeviceSpec[] {
  return DEMO_LAYOUT.map(({ kind, room, name }) => ({
    id: `${options.home}-${slug(name)}`,
    kind,
    model: options.models?.[kind] ?? DEFAULT_MODELS[kind],
    room,
    name,
    firmware: options.firmware?.[kind] ?? DEFAULT_FIRMWARE[kind],
    home: options.home,
    telemetryIntervalMs: options.telemetryIntervalMs?.[kind] ?? DEFAULT_TELEMETRY_MS[kind],
    tags: { home: options.home, room: slug(room) }
  }))
}
