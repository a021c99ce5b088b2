/** Scenario target selectors: which device specs a `target:` means, and how to name it in a report. */
import { resolveRoom } from '../core/rooms.ts'
import type { DeviceSpec } from '../devices/device.ts'
import { selectorMatches, type DeviceSelector } from '../devices/fleet.ts'
import type { TargetSelector } from './schema.ts'

/**
 * The fleet's selector for a scenario target (a scenario says `device:` where the fleet says `id:`). A room named in
 * any language or form the room table knows (`cuisine`, `la cuisine`, `Kitchen`) selects that room; another name
 * (a group's own room, such as `gym`) is compared as written.
 */
export function deviceSelector (target: TargetSelector): DeviceSelector {
  const room = target.room === undefined ? undefined : resolveRoom(target.room) ?? target.room
  return { id: target.device, name: target.name, kind: target.kind, room, home: target.home }
}

/** A predicate over device specs: every field given must match. */
export function targetMatcher (target: TargetSelector): (spec: DeviceSpec) => boolean {
  return selectorMatches(deviceSelector(target))
}

/** `kitchen speaker`, `kind band`, `device demo-*`, `kind camera in room garage`, `all devices`. */
export function describeTarget (target: TargetSelector): string {
  const parts: string[] = []
  if (target.name !== undefined) parts.push(target.name.join(' | '))
  if (target.device !== undefined) parts.push(target.device.join(' | '))
  if (target.kind !== undefined) parts.push(parts.length === 0 ? `every ${target.kind}` : `(${target.kind})`)
  else if (parts.length === 0 && (target.room !== undefined || target.home !== undefined)) parts.push('devices')
  if (target.room !== undefined) parts.push(`in ${target.room}`)
  if (target.home !== undefined) parts.push(`of home ${target.home}`)
  if (parts.length === 0) return 'all devices'
  return parts.join(' ')
}
