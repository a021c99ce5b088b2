/**
 * Device log lines: parse what devices publish on `{prefix}/{id}/log` (JSON `{ts, level, msg, ...fields}`,
 * docs/topics.md) and `{prefix}/{id}/info`, filter them (device glob, kind, room, level), and format them as a
 * pretty line or a JSON line. Pure functions, no MQTT: `fleet logs` and tests use them, and so can anything else
 * that shows device logs.
 *
 * Payloads come from the network, so nothing here throws on bad input: a payload that is not a JSON object is a
 * raw line, an unknown level counts as `info`, a bad `ts` is replaced by the time of receipt, and control characters
 * are escaped so a device cannot move the cursor or recolour the terminal.
 */
import { globMatcher } from '../core/glob.ts'
import { LOG_LEVELS, type LogLevel } from '../core/log-levels.ts'
import { resolveRoom, roomKey } from '../core/rooms.ts'

/** What the retained info topic tells about a device. */
export interface DeviceInfo {
  kind: string | undefined
  room: string | undefined
  name: string | undefined
}

export interface LogRecord {
  deviceId: string
  /** Epoch milliseconds: the payload's `ts`, else the time of receipt. */
  ts: number
  /** The payload's level, or undefined when it has none we know (raw lines included). */
  level: LogLevel | undefined
  msg: string
  /** Every other field of the payload, in its order. */
  fields: Record<string, unknown>
  /** The payload text when it was not a JSON object. */
  raw: string | undefined
}

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i])) as Record<LogLevel, number>
/** pino's numeric levels, for payloads written by pino itself. */
const PINO_NUMERIC: Readonly<Record<number, LogLevel>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

function levelOf (x: unknown): LogLevel | undefined {
  if (typeof x === 'string') {
    const l = x.toLowerCase()
    return l in LEVEL_RANK ? l as LogLevel : undefined
  }
  if (typeof x === 'number') return PINO_NUMERIC[x]
  return undefined
}

function timeOf (x: unknown): number | undefined {
  // Beyond ±8.64e15 ms a Date is invalid (ECMA-262 21.4.1.1) and toISOString would throw.
  const t = typeof x === 'number' ? x : typeof x === 'string' ? Date.parse(x) : NaN
  return Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? t : undefined
}

/** Parse one log payload; never throws. `receivedAt` stands in for a missing or bad `ts`. */
export function parseLogPayload (deviceId: string, payload: Buffer | string, receivedAt: number = Date.now()): LogRecord {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8')
  let data: unknown
  try { data = JSON.parse(text) } catch { data = undefined }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { deviceId, ts: receivedAt, level: undefined, msg: '', fields: {}, raw: text }
  }
  const { ts, level, msg, time, ...fields } = data as Record<string, unknown>
  // pino writes `time`, devices write `ts`; keep `time` as a field when `ts` is the time.
  const t = timeOf(ts) ?? timeOf(time)
  if (time !== undefined && timeOf(ts) !== undefined) fields.time = time
  return {
    deviceId,
    ts: t ?? receivedAt,
    level: levelOf(level),
    msg: typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg),
    fields: level !== undefined && levelOf(level) === undefined ? { level, ...fields } : fields,
    raw: undefined
  }
}

/** Parse a retained info payload; `undefined` for an empty (cleared) or unreadable one. */
export function parseInfoPayload (payload: Buffer | string): DeviceInfo | undefined {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8')
  if (text === '') return undefined
  let data: unknown
  try { data = JSON.parse(text) } catch { return undefined }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined
  const d = data as Record<string, unknown>
  const str = (x: unknown): string | undefined => typeof x === 'string' && x !== '' ? x : undefined
  return { kind: str(d.kind), room: str(d.room), name: str(d.name) }
}

// ---- filtering --------------------------------------------------------------------------------------------------

export interface LogFilterOptions {
  /** Device ids or globs (`*`, `?`); empty = every device. */
  devices?: readonly string[]
  kinds?: readonly string[]
  /**
   * Room names, compared as scenarios and `Fleet.select` compare them ({@link roomKey}: case, accents and
   * separators do not matter, so `Living Room`, `living room` and `living-room` are one room).
   */
  rooms?: readonly string[]
  /** Lowest level shown; lines without a known level count as `info`. Default `trace`. */
  minLevel?: LogLevel
}

/** The answer for one line: show it, drop it, or wait for the device's info to decide. */
export type FilterDecision = 'show' | 'hide' | 'wait'

export interface LogFilter {
  /** True when kind or room filters need the device's info. */
  readonly needsInfo: boolean
  /** Exact ids when every device pattern is a plain id (so a watcher can subscribe to just those), else undefined. */
  readonly exactDevices: readonly string[] | undefined
  /** Does the device id pass `devices`? A watcher tests it once per message, before {@link decide}. */
  matchesDevice (deviceId: string): boolean
  /**
   * Level, kind and room (not the device id: see {@link matchesDevice}). `info` is undefined while the device's
   * info is unknown.
   */
  decide (record: LogRecord, info: DeviceInfo | undefined): FilterDecision
}

export function createLogFilter (options: LogFilterOptions = {}): LogFilter {
  const devices = options.devices ?? []
  const kinds = options.kinds ?? []
  // A room given by any of its names (`cuisine`, `la cuisine`, `Kitchen`) means the room; other names are kept as
  // they are (a group's own room, such as `gym`).
  const canonical = (room: string): string => roomKey(resolveRoom(room) ?? room)
  const rooms = new Set((options.rooms ?? []).map(canonical))
  const min = LEVEL_RANK[options.minLevel ?? 'trace']
  const device = devices.length === 0 ? () => true : globMatcher(devices)
  const needsInfo = kinds.length > 0 || rooms.size > 0
  const exact = devices.length > 0 && devices.every((d) => !/[*?]/.test(d)) ? [...new Set(devices)] : undefined
  // A device's info names its room the same way on every line: key each room text once.
  const keys = new Map<string, string>()
  const keyOf = (room: string): string => {
    let k = keys.get(room)
    if (k === undefined) keys.set(room, k = canonical(room))
    return k
  }
  return {
    needsInfo,
    exactDevices: exact,
    matchesDevice: device,
    decide (record, info) {
      if (LEVEL_RANK[record.level ?? 'info'] < min) return 'hide'
      if (!needsInfo) return 'show'
      if (info === undefined) return 'wait'
      if (kinds.length > 0 && (info.kind === undefined || !kinds.includes(info.kind))) return 'hide'
      if (rooms.size > 0 && (info.room === undefined || !rooms.has(keyOf(info.room)))) return 'hide'
      return 'show'
    }
  }
}

// ---- formatting -------------------------------------------------------------------------------------------------

export interface FormatOptions {
  /** ANSI colour for the level. */
  color?: boolean
  /** Show times in UTC instead of local time (tests). */
  utc?: boolean
}

const LEVEL_COLOR: Readonly<Record<LogLevel | 'raw', string>> = {
  trace: '\u001b[90m', // grey
  debug: '\u001b[36m', // cyan
  info: '\u001b[32m', // green
  warn: '\u001b[33m', // yellow
  error: '\u001b[31m', // red
  fatal: '\u001b[35;1m', // bold magenta
  raw: '\u001b[2m' // dim
}
const RESET = '\u001b[0m'

/**
 * Escape control characters (ESC, CR, LF, BEL, C1…) so one record stays one line and a device's text cannot
 * drive the terminal. Tabs are kept.
 */
export function sanitize (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n'
    if (c === '\r') return '\\r'
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

/** `HH:MM:SS.mmm`. */
export function formatClock (ts: number, utc = false): string {
  const d = new Date(ts)
  const [h, m, s, ms] = utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()]
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms).padStart(3, '0')}`
}

/** `key=value`, quoting a string value only when it has spaces, quotes or `=`; objects as JSON. */
export function formatField (key: string, value: unknown): string {
  let v: string
  if (typeof value === 'string') v = value === '' || /[\s"=]/.test(value) ? JSON.stringify(value) : value
  else if (typeof value === 'number' || typeof value === 'boolean') v = String(value)
  else if (value === undefined) v = 'undefined'
  else v = safeJson(value)
  return `${sanitize(key)}=${sanitize(v)}`
}

function safeJson (value: unknown): string {
  try { return JSON.stringify(value) ?? String(value) } catch { return '[unserialisable]' }
}

/**
 * One pretty line: `08:00:01.250 INFO  speaker-1 (kitchen) volume changed from=30 to=40`. The room is left out
 * while unknown; a raw payload shows as `RAW   speaker-1 <text>`.
 */
export function formatLogLine (record: LogRecord, info: DeviceInfo | undefined, options: FormatOptions = {}): string {
  const label = record.raw !== undefined ? 'raw' : (record.level ?? 'info')
  const levelText = (record.raw !== undefined ? 'RAW' : (record.level?.toUpperCase() ?? '?')).padEnd(5)
  const level = options.color === true ? `${LEVEL_COLOR[label]}${levelText}${RESET}` : levelText
  const where = info?.room === undefined ? sanitize(record.deviceId) : `${sanitize(record.deviceId)} (${sanitize(info.room)})`
  const body = record.raw !== undefined
    ? sanitize(record.raw)
    : [sanitize(record.msg), ...Object.entries(record.fields).map(([k, v]) => formatField(k, v))].filter((p) => p !== '').join(' ')
  return `${formatClock(record.ts, options.utc)} ${level} ${where}${body === '' ? '' : ` ${body}`}`
}

/** The object of one `--json` line: stable keys, `null` for what is unknown, the payload's other fields apart. */
export function logRecordJson (record: LogRecord, info: DeviceInfo | undefined): Record<string, unknown> {
  const base = {
    time: new Date(record.ts).toISOString(),
    ts: record.ts,
    level: record.raw !== undefined ? null : (record.level ?? null),
    deviceId: record.deviceId,
    kind: info?.kind ?? null,
    room: info?.room ?? null,
    name: info?.name ?? null
  }
  return record.raw !== undefined ? { ...base, raw: record.raw } : { ...base, msg: record.msg, fields: record.fields }
}

/** One `--json` line (without the newline). */
export function formatLogJson (record: LogRecord, info: DeviceInfo | undefined): string {
  return safeJson(logRecordJson(record, info))
}
