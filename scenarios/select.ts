/** Scenario target selectors: which device specs a `target:` means, and how to name it in a report. */
import { globMatcher } from '../core/glob.ts'
import type { DeviceSpec } from '../devices/device.ts'
import { roomKey } from '../devices/home.ts'
import type { TargetSelector } from './schema.ts'

/** A predicate over device specs: every field given must match. */
export function targetMatcher (target: TargetSelector): (spec: DeviceSpec) => boolean {
  const id = target.device === undefined ? undefined : globMatcher(target.device)
  const name = target.name === undefined ? undefined : globMatcher(target.name)
  const room = target.room === undefined ? undefined : roomKey(target.room)
  const home = target.home
  const kind = target.kind
  return (s) =>
    (id === undefined || id(s.id)) &&
    (name === undefined || name(s.name)) &&
    (kind === undefined || s.kind === kind) &&
    (room === undefined || roomKey(s.room) === room) &&
    (home === undefined || s.home === home)
}

export function selectSpecs<T extends { spec: DeviceSpec }> (items: readonly T[], target: TargetSelector): T[] {
  const match = targetMatcher(target)
  return items.filter((d) => match(d.spec))
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
