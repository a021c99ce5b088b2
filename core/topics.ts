/**
 * The topic contract: the one place that builds and parses HomeFleet topics (docs/topics.md is its table).
 *
 * Native layout, under a configurable prefix (default `home`, may span levels such as `lab/home`):
 *
 * | channel   | topic                               | retained | payload                                   |
 * |-----------|-------------------------------------|----------|-------------------------------------------|
 * | status    | {p}/{id}/status                     | yes      | `online` / `offline` (last will)          |
 * | info      | {p}/{id}/info                       | yes      | JSON identity: kind, model, room, name, fw |
 * | telemetry | {p}/{id}/telemetry                  | no       | JSON `{ts, seq, ...}`                     |
 * | event     | {p}/{id}/events/{name}              | no       | JSON `{ts, seq, ...}`                     |
 * | reported  | {p}/{id}/state/reported             | yes      | JSON reported twin, `$desiredVersion`     |
 * | desired   | {p}/{id}/state/desired              | yes      | JSON desired twin, with `$version`        |
 * | command   | {p}/{id}/commands/{name}/{rid}      | no       | JSON arguments object (empty = `{}`)      |
 * | reply     | {p}/{id}/replies/{rid}              | no       | JSON `{rid, command, ok, status, result \| error}` |
 * | log       | {p}/{id}/log                        | no       | JSON `{ts, level, msg, ...}`              |
 *
 * MQTT 3.1.1 has no response-topic or correlation-data properties (those are MQTT 5), so, like Azure IoT Hub's
 * `$rid`, the request id travels in the topic: even a request whose payload is not JSON can be answered.
 */
import { FleetError } from './errors.ts'

export const DEFAULT_PREFIX = 'home'

export const CHANNELS = ['status', 'info', 'telemetry', 'event', 'reported', 'desired', 'command', 'reply', 'log'] as const
export type Channel = typeof CHANNELS[number]

export type ParsedTopic =
  | { channel: 'status' | 'info' | 'telemetry' | 'reported' | 'desired' | 'log'; deviceId: string }
  | { channel: 'event'; deviceId: string; name: string }
  | { channel: 'command'; deviceId: string; name: string; rid: string }
  | { channel: 'reply'; deviceId: string; rid: string }

/** `online` / `offline`: the retained status payloads; `offline` is also the last will. */
export const STATUS_ONLINE = 'online'
export const STATUS_OFFLINE = 'offline'

// eslint-disable-next-line no-control-regex -- NUL is excluded on purpose: [MQTT-1.5.3-2] forbids U+0000 in topics
const LEVEL_RE = /^[^/+#\u0000]+$/

/** A topic level that names a device, command, event or request id: no `/`, `+`, `#`, NUL, not empty. */
export function isValidLevel (level: string): boolean {
  return LEVEL_RE.test(level) && !level.startsWith('$')
}

function checkLevel (what: string, level: string): string {
  if (!isValidLevel(level)) {
    throw new FleetError('FLEET_ERR_TOPIC_INVALID', `${what} ${JSON.stringify(level)} may not be empty, start with $, or contain / + # or NUL`)
  }
  return level
}

export function checkPrefix (prefix: string): string {
  const levels = prefix.split('/')
  if (prefix === '' || !levels.every(isValidLevel)) {
    throw new FleetError('FLEET_ERR_TOPIC_INVALID', `topic prefix ${JSON.stringify(prefix)} must be one or more levels without + # $ or empty levels`)
  }
  return prefix
}

export interface Topics {
  readonly prefix: string
  status (deviceId: string): string
  info (deviceId: string): string
  telemetry (deviceId: string): string
  event (deviceId: string, name: string): string
  reported (deviceId: string): string
  desired (deviceId: string): string
  command (deviceId: string, name: string, rid: string): string
  reply (deviceId: string, rid: string): string
  log (deviceId: string): string
  /**
   * A subscription filter for one channel, for one device or (default) every device: `deviceId` `+`.
   * Commands and events also take a name (default `+`).
   */
  filter (channel: Channel, deviceId?: string, name?: string): string
  /** Every topic of every device: `{p}/#`. */
  all (): string
  /** Parse a topic of this contract; `undefined` for anything else (other prefixes, `$SYS`, bridge topics). */
  parse (topic: string): ParsedTopic | undefined
}

/** Build the contract for one prefix. Cheap: devices share one instance. */
export function createTopics (prefix: string = DEFAULT_PREFIX): Topics {
  checkPrefix(prefix)
  const p = prefix
  const prefixLevels = prefix.split('/')
  const plen = prefixLevels.length
  const dev = (id: string): string => `${p}/${checkLevel('device id', id)}`

  const filterLevel = (x: string | undefined): string => x === undefined || x === '+' ? '+' : checkLevel('filter level', x)

  return {
    prefix,
    status: (id) => `${dev(id)}/status`,
    info: (id) => `${dev(id)}/info`,
    telemetry: (id) => `${dev(id)}/telemetry`,
    event: (id, name) => `${dev(id)}/events/${checkLevel('event name', name)}`,
    reported: (id) => `${dev(id)}/state/reported`,
    desired: (id) => `${dev(id)}/state/desired`,
    command: (id, name, rid) => `${dev(id)}/commands/${checkLevel('command name', name)}/${checkLevel('request id', rid)}`,
    reply: (id, rid) => `${dev(id)}/replies/${checkLevel('request id', rid)}`,
    log: (id) => `${dev(id)}/log`,
    filter (channel, deviceId, name) {
      const d = filterLevel(deviceId)
      switch (channel) {
        case 'status': return `${p}/${d}/status`
        case 'info': return `${p}/${d}/info`
        case 'telemetry': return `${p}/${d}/telemetry`
        case 'event': return `${p}/${d}/events/${filterLevel(name)}`
        case 'reported': return `${p}/${d}/state/reported`
        case 'desired': return `${p}/${d}/state/desired`
        case 'command': return `${p}/${d}/commands/${filterLevel(name)}/+`
        case 'reply': return `${p}/${d}/replies/+`
        case 'log': return `${p}/${d}/log`
      }
    },
    all: () => `${p}/#`,
    parse (topic) {
      const levels = topic.split('/')
      for (let i = 0; i < plen; i++) if (levels[i] !== prefixLevels[i]) return undefined
      const rest = levels.slice(plen)
      const [deviceId, a, b, c] = rest
      if (deviceId === undefined || a === undefined || !isValidLevel(deviceId)) return undefined
      switch (rest.length) {
        case 2:
          if (a === 'status' || a === 'info' || a === 'telemetry' || a === 'log') return { channel: a, deviceId }
          return undefined
        // Names and request ids must be levels this module could build: a command with rid `$r1` could never be
        // answered (its reply topic would be invalid), so it is not a command of the contract at all.
        case 3:
          if (a === 'events' && b !== undefined && isValidLevel(b)) return { channel: 'event', deviceId, name: b }
          if (a === 'state' && (b === 'reported' || b === 'desired')) return { channel: b, deviceId }
          if (a === 'replies' && b !== undefined && isValidLevel(b)) return { channel: 'reply', deviceId, rid: b }
          return undefined
        case 4:
          if (a === 'commands' && b !== undefined && isValidLevel(b) && c !== undefined && isValidLevel(c)) {
            return { channel: 'command', deviceId, name: b, rid: c }
          }
          return undefined
        default:
          return undefined
      }
    }
  }
}

/**
 * A matcher for one subscription filter, split once: for hot paths that test many topics against one filter
 * ([MQTT-4.7.1-2], [MQTT-4.7.1-3]; `$` topics never match a leading wildcard, [MQTT-4.7.2-1]).
 */
export function filterMatcher (filter: string): (topic: string) => boolean {
  const f = filter.split('/')
  const leadingWildcard = f[0] === '+' || f[0] === '#'
  return (topic) => {
    if (leadingWildcard && topic.startsWith('$')) return false
    const t = topic.split('/')
    for (let i = 0; i < f.length; i++) {
      const level = f[i]
      if (level === '#') return true
      if (i >= t.length) return false
      if (level !== '+' && level !== t[i]) return false
    }
    return f.length === t.length
  }
}

/** Does an MQTT topic match a subscription filter? One-off form of {@link filterMatcher}. */
export function topicMatches (filter: string, topic: string): boolean {
  return filterMatcher(filter)(topic)
}
