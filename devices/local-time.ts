/**
 * Local time of day for devices whose behaviour follows the day (a band's activity and midnight step reset, a
 * camera's day/night motion rate and infrared).
 *
 * Why not the host's time zone: the same seed must give the same behaviour on every machine, and a
 * CI runner in UTC would otherwise simulate a different day from a laptop in Paris. So a device's local time is
 * its clock's time plus a fixed UTC offset, taken from the spec's `utcOffset` tag (`+02:00`, `-05:30`), and UTC
 * when the tag is absent.
 */
import { HHMM_RE } from '../core/catalogue.ts'
import { FleetError } from '../core/errors.ts'
import type { DeviceSpec } from './device.ts'

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000

const OFFSET_RE = /^([+-])(\d{2}):(\d{2})$/
export { HHMM_RE }

/**
 * The device's UTC offset in milliseconds, from its `utcOffset` tag. Throws FLEET_ERR_OPTIONS_INVALID for a tag
 * that is not `±HH:MM` within ±14:00.
 */
export function utcOffsetMs (spec: Pick<DeviceSpec, 'id' | 'tags'>): number {
  const tag = spec.tags?.utcOffset
  if (tag === undefined) return 0
  const m = OFFSET_RE.exec(tag)
  const hours = Number(m?.[2])
  const minutes = Number(m?.[3])
  if (m === null || hours > 14 || minutes > 59 || (hours === 14 && minutes > 0)) {
    throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `device ${spec.id}: tag utcOffset must be like +02:00 or -05:30 (at most ±14:00), got ${JSON.stringify(tag)}`)
  }
  return (m[1] === '-' ? -1 : 1) * (hours * HOUR_MS + minutes * MINUTE_MS)
}

/** Days since the epoch in local time: changes at local midnight. */
export function localDay (now: number, offsetMs: number): number {
  return Math.floor((now + offsetMs) / DAY_MS)
}

/** Hours since local midnight, fractional: 7.5 is 07:30. */
export function localHour (now: number, offsetMs: number): number {
  const local = now + offsetMs
  return (local - Math.floor(local / DAY_MS) * DAY_MS) / HOUR_MS
}

/** Minutes after midnight for an `HH:MM` string, or undefined when it is not strictly `HH:MM` (24-hour). */
export function parseHhmm (text: string): number | undefined {
  const m = HHMM_RE.exec(text)
  if (m === null) return undefined
  return Number(m[1]) * 60 + Number(m[2])
}

/**
 * The first clock time strictly after `after` at which the local time of day is `minuteOfDay` (minutes after
 * local midnight).
 */
export function nextOccurrence (after: number, minuteOfDay: number, offsetMs: number): number {
  const local = after + offsetMs
  let at = Math.floor(local / DAY_MS) * DAY_MS + minuteOfDay * MINUTE_MS
  if (at <= local) at += DAY_MS
  return at - offsetMs
}
