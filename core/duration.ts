/**
 * Durations as people write them in scenario files: `500ms`, `2s`, `1.5m`, `1h`, combined `1m30s`, or a clock
 * reading `mm:ss` / `hh:mm:ss` (`00:30`, `1:02:03`). A bare number is refused (is `30` seconds or milliseconds?),
 * except `0`.
 */

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 })

const PART_RE = /(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)/y
const CLOCK_RE = /^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$/

/** The hint a parse error shows. */
export const DURATION_HINT = 'a duration such as 500ms, 2s, 1.5m, 1h, 1m30s or mm:ss (00:30)'

/**
 * Milliseconds for a duration, or `undefined` when `value` is not one. Fractions of a millisecond are rounded.
 *
 * @example
 * parseDuration('1.5s')  // 1500
 * parseDuration('01:30') // 90000
 * parseDuration('1m30s') // 90000
 * parseDuration('30')    // undefined: a unit is required
 */
export function parseDuration (value: unknown): number | undefined {
  if (value === 0) return 0
  if (typeof value !== 'string') return undefined
  const text = value.trim().toLowerCase()
  if (text === '') return undefined
  if (text === '0') return 0
  const clock = CLOCK_RE.exec(text)
  if (clock !== null) {
    const [, h, m, s] = clock
    const minutes = Number(m)
    const seconds = Number(s)
    // `1:75` is not a time; with hours given, minutes must be below 60 as well.
    if (seconds >= 60 || (h !== undefined && minutes >= 60)) return undefined
    return Math.round(((Number(h ?? 0) * 60 + minutes) * 60 + seconds) * 1000)
  }
  let total = 0
  let pos = 0
  while (pos < text.length) {
    PART_RE.lastIndex = pos
    const part = PART_RE.exec(text)
    if (part === null) return undefined
    total += Number(part[1]) * (UNIT_MS[part[2] as string] as number)
    pos = PART_RE.lastIndex
    while (text[pos] === ' ') pos++
  }
  return Number.isFinite(total) ? Math.round(total) : undefined
}

/**
 * A short human form: `850ms`, `2s`, `2.5s`, `1m05s`, `1h02m`.
 *
 * @example
 * formatDuration(1500)  // '1.5s'
 * formatDuration(65000) // '1m05s'
 */
export function formatDuration (ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  const sign = ms < 0 ? '-' : ''
  const a = Math.abs(ms)
  if (a === 0) return '0s'
  if (a < 1000) return `${sign}${Math.round(a)}ms`
  if (a < 60_000) {
    const s = Math.round(a / 100) / 10
    return `${sign}${s === Math.floor(s) ? s.toFixed(0) : s.toFixed(1)}s`
  }
  if (a < 3_600_000) {
    const total = Math.round(a / 1000)
    const m = Math.floor(total / 60)
    const s = total % 60
    return `${sign}${m}m${String(s).padStart(2, '0')}s`
  }
  const totalMin = Math.round(a / 60_000)
  return `${sign}${Math.floor(totalMin / 60)}h${String(totalMin % 60).padStart(2, '0')}m`
}
