/**
 * The topic contract: the one place that builds and parses HomeFleet topics (docs/topics.md is its table).
 *
 * One table, {@link CHANNEL_TABLE}, says what every channel's topic looks like under the prefix; builders, filters,
 * `parse` and the allocation-free {@link TopicClassifier} are all read off it, so they cannot disagree.
 *
 * Device topics live at `{p}/{deviceId}/…`. Bridge services (voice, rollouts) live at `{p}/$bridge/…`: a device id may
 * not start with `$`, so no device can ever be mistaken for a bridge service or the other way round. (The `$` is not
 * the topic's first character, so [MQTT-4.7.2-1] does not apply: `{p}/#` still sees the bridge's topics.)
 *
 * MQTT 3.1.1 has no response-topic or correlation-data properties (those are MQTT 5), so, like Azure IoT Hub's
 * `$rid`, the request id travels in the topic: even a request whose payload is not JSON can be answered.
 */
import { FleetError } from './errors.ts'

export const DEFAULT_PREFIX = 'home'

/** The first level under the prefix of every bridge service topic. */
export const BRIDGE_LEVEL = '$bridge'

/** `online` / `offline`: the retained status payloads (devices' and the bridge's); `offline` is also the last will. */
export const STATUS_ONLINE = 'online'
export const STATUS_OFFLINE = 'offline'

/**
 * Every channel: its topic under the prefix, whether it is retained, and what it carries. `{…}` levels are
 * variables, and their names are the fields `parse` returns. Order matters only for {@link CHANNEL_INDEX}.
 */
export const CHANNEL_TABLE = [
  { channel: 'status', pattern: '{deviceId}/status', retained: true, payload: '`online` / `offline` (last will)' },
  { channel: 'info', pattern: '{deviceId}/info', retained: true, payload: 'JSON identity, commands and desired property names' },
  { channel: 'telemetry', pattern: '{deviceId}/telemetry', retained: false, payload: 'JSON `{ts, seq, …}`' },
  { channel: 'event', pattern: '{deviceId}/events/{name}', retained: false, payload: 'JSON `{ts, seq, …}`' },
  { channel: 'reported', pattern: '{deviceId}/state/reported', retained: true, payload: 'JSON reported twin' },
  { channel: 'desired', pattern: '{deviceId}/state/desired', retained: true, payload: 'JSON desired twin, `$version`' },
  { channel: 'command', pattern: '{deviceId}/commands/{name}/{rid}', retained: false, payload: 'JSON arguments' },
  { channel: 'reply', pattern: '{deviceId}/replies/{rid}', retained: false, payload: 'JSON reply' },
  { channel: 'log', pattern: '{deviceId}/log', retained: false, payload: 'JSON `{ts, level, msg, …}`' },
  { channel: 'bridgeStatus', pattern: '$bridge/status', retained: true, payload: '`online` / `offline` (last will)' },
  { channel: 'voiceRequest', pattern: '$bridge/voice/requests/{rid}', retained: false, payload: 'JSON `{utterance, from?, lang?}`' },
  { channel: 'voiceAnswer', pattern: '$bridge/voice/answers/{rid}', retained: false, payload: 'JSON answer' },
  { channel: 'rolloutCommand', pattern: '$bridge/rollout/commands/{name}/{rid}', retained: false, payload: 'JSON request' },
  { channel: 'rolloutReply', pattern: '$bridge/rollout/replies/{rid}', retained: false, payload: 'JSON reply' },
  { channel: 'rolloutDeployment', pattern: '$bridge/rollout/deployments/{deploymentId}', retained: true, payload: 'JSON deployment status' },
  { channel: 'rolloutGroup', pattern: '$bridge/rollout/groups/{groupId}', retained: true, payload: 'JSON group status and compliance' },
  { channel: 'rolloutFile', pattern: '$bridge/rollout/files/{updateKey}/{filename}', retained: false, payload: 'the address of an update file' },
  { channel: 'rolloutFetch', pattern: '$bridge/rollout/fetch/{agentId}/{rid}', retained: false, payload: 'JSON `{url}`: a device asks for a file' },
  { channel: 'rolloutDelivery', pattern: '$bridge/rollout/deliveries/{agentId}/{rid}', retained: false, payload: 'the bytes of the file asked for' }
] as const

export type AnyChannel = typeof CHANNEL_TABLE[number]['channel']

/** The device channels. */
export const CHANNELS = ['status', 'info', 'telemetry', 'event', 'reported', 'desired', 'command', 'reply', 'log'] as const
export type Channel = typeof CHANNELS[number]
/** The bridge service channels, under `{p}/$bridge/`. */
export const BRIDGE_CHANNELS = ['bridgeStatus', 'voiceRequest', 'voiceAnswer', 'rolloutCommand', 'rolloutReply', 'rolloutDeployment', 'rolloutGroup', 'rolloutFile', 'rolloutFetch', 'rolloutDelivery'] as const
export type BridgeChannel = typeof BRIDGE_CHANNELS[number]

/** Each channel's index in {@link CHANNEL_TABLE}: what {@link TopicClassifier.classify} returns. */
export const CHANNEL_INDEX: Readonly<Record<AnyChannel, number>> = Object.freeze(
  Object.fromEntries(CHANNEL_TABLE.map((c, i) => [c.channel, i])) as Record<AnyChannel, number>
)

/** A device topic, parsed. */
export type DeviceTopic =
  | { channel: 'status' | 'info' | 'telemetry' | 'reported' | 'desired' | 'log'; deviceId: string }
  | { channel: 'event'; deviceId: string; name: string }
  | { channel: 'command'; deviceId: string; name: string; rid: string }
  | { channel: 'reply'; deviceId: string; rid: string }

/** A bridge service topic, parsed. */
export type BridgeTopic =
  | { channel: 'bridgeStatus' }
  | { channel: 'voiceRequest' | 'voiceAnswer' | 'rolloutReply'; rid: string }
  | { channel: 'rolloutCommand'; name: string; rid: string }
  | { channel: 'rolloutDeployment'; deploymentId: string }
  | { channel: 'rolloutGroup'; groupId: string }
  | { channel: 'rolloutFile'; updateKey: string; filename: string }
  // `agentId`, not `deviceId`: these are the bridge's topics (isDeviceTopic is false), addressed to one device's update agent.
  | { channel: 'rolloutFetch' | 'rolloutDelivery'; agentId: string; rid: string }

export type ParsedTopic = DeviceTopic | BridgeTopic

/** Is this parsed topic a device's (it has a `deviceId`)? */
export function isDeviceTopic (t: ParsedTopic | undefined): t is DeviceTopic {
  return t !== undefined && 'deviceId' in t
}

// eslint-disable-next-line no-control-regex -- NUL is excluded on purpose: [MQTT-1.5.3-2] forbids U+0000 in topics
const LEVEL_RE = /^[^/+#\u0000]+$/

/** A topic level that names a device, command, event or request id: no `/`, `+`, `#`, NUL, not empty, no leading `$`. */
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

/** One level of a compiled pattern: a literal, or a variable (its name). */
interface Level { literal: string | undefined; variable: string | undefined }
interface Compiled { channel: AnyChannel; index: number; levels: readonly Level[]; variables: readonly string[]; bridge: boolean }

const COMPILED: readonly Compiled[] = CHANNEL_TABLE.map((c, index) => {
  const levels = c.pattern.split('/').map((l): Level => l.startsWith('{') ? { literal: undefined, variable: l.slice(1, -1) } : { literal: l, variable: undefined })
  return { channel: c.channel, index, levels, variables: levels.flatMap((l) => l.variable === undefined ? [] : [l.variable]), bridge: levels[0]?.literal === BRIDGE_LEVEL }
})

/** How a variable is named in errors: `deviceId` → `device id`. */
const VARIABLE_WHAT: Readonly<Record<string, string>> = { deviceId: 'device id', name: 'name', rid: 'request id', deploymentId: 'deployment id', groupId: 'group id', updateKey: 'update key', filename: 'file name', agentId: 'device id' }

/**
 * Classifies topic names without allocating: `classify(topic)` returns the channel's index in
 * {@link CHANNEL_TABLE} (see {@link CHANNEL_INDEX}) or -1, and leaves the position of each variable level in
 * {@link spans} (`[start, end)` pairs, in pattern order), so a hot path slices only what it needs (typically the
 * device id: `topic.slice(c.spans[0], c.spans[1])`).
 *
 * It expects topic *names* as a broker delivers them, which cannot contain `+`, `#` [MQTT-3.3.2-2] or NUL
 * [MQTT-1.5.3-2], and so does not re-check those; a variable level must be non-empty and not start with `$`
 * (a device id never does; `$bridge` is matched as the literal it is). Use {@link Topics.parse} for arbitrary strings.
 *
 * @example
 * const c = topics.classifier()
 * if (c.classify(topic) === CHANNEL_INDEX.telemetry) count(topic.slice(c.spans[0], c.spans[1]))
 */
export class TopicClassifier {
  /** `[start, end)` of each variable level of the last topic classified, in pattern order (at most 3 used). */
  readonly spans = new Int32Array(6)
  private readonly prefixSlash: string
  /** Device channels in the order they are tried: the busiest first. */
  private readonly deviceOrder: readonly Compiled[]
  private readonly bridgeOrder: readonly Compiled[]

  constructor (prefix: string) {
    this.prefixSlash = `${prefix}/`
    const busiest: readonly AnyChannel[] = ['telemetry', 'event', 'status', 'reported', 'reply', 'command', 'log', 'desired', 'info']
    this.deviceOrder = busiest.map((ch) => COMPILED[CHANNEL_INDEX[ch]] as Compiled)
    this.bridgeOrder = COMPILED.filter((c) => c.bridge)
  }

  /** The channel index of a topic name, or -1 when it is not one of the contract's. */
  classify (topic: string): number {
    const p = this.prefixSlash
    if (!topic.startsWith(p)) return -1
    const start = p.length
    // Indexed loops: no iterator per message on the observer's path.
    if (topic.startsWith(BRIDGE_LEVEL, start)) {
      const order = this.bridgeOrder
      for (let i = 0; i < order.length; i++) {
        const c = order[i] as Compiled
        if (this.matchFrom(topic, start, c.levels, 0, 0)) return c.index
      }
      return -1
    }
    // Every device pattern starts with the device id: find it once, then try the rest of each pattern after it.
    const idEnd = topic.indexOf('/', start)
    if (idEnd <= start || topic.charCodeAt(start) === 0x24) return -1
    this.spans[0] = start
    this.spans[1] = idEnd
    const order = this.deviceOrder
    for (let i = 0; i < order.length; i++) {
      const c = order[i] as Compiled
      if (this.matchFrom(topic, idEnd, c.levels, 1, 2)) return c.index
    }
    return -1
  }

  /**
   * Does `topic` from `pos` on match `levels` from level `from` on (`pos` is at the `/` before it, or at the start
   * when `from` is 0)? Fills {@link spans} from slot `v` as it goes.
   */
  private matchFrom (topic: string, pos: number, levels: readonly Level[], from: number, v: number): boolean {
    const len = topic.length
    for (let i = from; i < levels.length; i++) {
      if (i > 0) {
        if (pos >= len || topic.charCodeAt(pos) !== 0x2f) return false
        pos++
      }
      const level = levels[i] as Level
      if (level.literal !== undefined) {
        const lit = level.literal
        if (!topic.startsWith(lit, pos)) return false
        pos += lit.length
        if (pos < len && topic.charCodeAt(pos) !== 0x2f) return false
      } else {
        const end = topic.indexOf('/', pos)
        const stop = end < 0 ? len : end
        // Empty, or `$…` (which no builder can make: a device id, name or request id never starts with `$`).
        if (stop === pos || topic.charCodeAt(pos) === 0x24) return false
        this.spans[v++] = pos
        this.spans[v++] = stop
        pos = stop
      }
    }
    return pos === len
  }
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
  /** `{p}/$bridge/status`: retained `online` / `offline` (the bridge's last will). */
  bridgeStatus (): string
  /** `{p}/$bridge/voice/requests/{rid}`: JSON `{utterance, from?, lang?}`. */
  voiceRequest (rid: string): string
  /** `{p}/$bridge/voice/answers/{rid}`. */
  voiceAnswer (rid: string): string
  /** `{p}/$bridge/rollout/commands/{name}/{rid}`: a request to the rollout service. */
  rolloutCommand (name: string, rid: string): string
  /** `{p}/$bridge/rollout/replies/{rid}`. */
  rolloutReply (rid: string): string
  /** `{p}/$bridge/rollout/deployments/{deploymentId}`: retained deployment status. */
  rolloutDeployment (deploymentId: string): string
  /** `{p}/$bridge/rollout/groups/{groupId}`: retained group status and compliance. */
  rolloutGroup (groupId: string): string
  /** `{p}/$bridge/rollout/files/{updateKey}/{filename}`: the bytes of one update file. */
  rolloutFile (updateKey: string, filename: string): string
  /** Build any channel's topic from its variables, in pattern order. */
  build (channel: AnyChannel, ...values: string[]): string
  /**
   * A subscription filter for one channel: its variables in pattern order, each a value or (`undefined`, `+`, or
   * left out) the `+` wildcard. `filter('command', 'd1')` is `{p}/d1/commands/+/+`, `filter('telemetry')` every
   * device's telemetry, `filter('rolloutFile', key)` every file of one update.
   */
  filter (channel: AnyChannel, ...values: Array<string | undefined>): string
  /** Every topic under the prefix, devices' and bridge's: `{p}/#`. */
  all (): string
  /** Every bridge service topic: `{p}/$bridge/#`. */
  bridgeAll (): string
  /** Parse a topic of this contract; `undefined` for anything else (other prefixes, `$SYS`, unknown channels). */
  parse (topic: string): ParsedTopic | undefined
  /** A fresh allocation-free classifier for this prefix (one per consumer: it keeps the last match's spans). */
  classifier (): TopicClassifier
}

/** Build the contract for one prefix. Cheap: devices share one instance. */
export function createTopics (prefix: string = DEFAULT_PREFIX): Topics {
  checkPrefix(prefix)
  const p = prefix
  const parser = new TopicClassifier(prefix)

  const build = (channel: AnyChannel, ...values: string[]): string => {
    const c = COMPILED[CHANNEL_INDEX[channel]] as Compiled
    let out = p
    let v = 0
    for (const level of c.levels) {
      if (level.literal !== undefined) out += `/${level.literal}`
      else {
        const name = level.variable as string
        out += `/${checkLevel(VARIABLE_WHAT[name] ?? name, values[v++] ?? '')}`
      }
    }
    return out
  }

  const filter = (channel: AnyChannel, ...values: Array<string | undefined>): string => {
    const c = COMPILED[CHANNEL_INDEX[channel]] as Compiled
    let out = p
    let v = 0
    for (const level of c.levels) {
      if (level.literal !== undefined) { out += `/${level.literal}`; continue }
      const x = values[v++]
      out += `/${x === undefined || x === '+' ? '+' : checkLevel('filter level', x)}`
    }
    return out
  }

  return {
    prefix,
    status: (id) => build('status', id),
    info: (id) => build('info', id),
    telemetry: (id) => build('telemetry', id),
    event: (id, name) => build('event', id, name),
    reported: (id) => build('reported', id),
    desired: (id) => build('desired', id),
    command: (id, name, rid) => build('command', id, name, rid),
    reply: (id, rid) => build('reply', id, rid),
    log: (id) => build('log', id),
    bridgeStatus: () => build('bridgeStatus'),
    voiceRequest: (rid) => build('voiceRequest', rid),
    voiceAnswer: (rid) => build('voiceAnswer', rid),
    rolloutCommand: (name, rid) => build('rolloutCommand', name, rid),
    rolloutReply: (rid) => build('rolloutReply', rid),
    rolloutDeployment: (id) => build('rolloutDeployment', id),
    rolloutGroup: (id) => build('rolloutGroup', id),
    rolloutFile: (key, filename) => build('rolloutFile', key, filename),
    build,
    filter,
    all: () => `${p}/#`,
    bridgeAll: () => `${p}/${BRIDGE_LEVEL}/#`,
    parse (topic) {
      const index = parser.classify(topic)
      if (index < 0) return undefined
      const c = COMPILED[index] as Compiled
      const out: Record<string, string> = { channel: c.channel }
      for (let i = 0; i < c.variables.length; i++) {
        const value = topic.slice(parser.spans[2 * i], parser.spans[2 * i + 1])
        // The classifier trusts broker-delivered names; parse takes any string, so check what it could not build.
        if (!isValidLevel(value)) return undefined
        out[c.variables[i] as string] = value
      }
      return out as unknown as ParsedTopic
    },
    classifier: () => new TopicClassifier(prefix)
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
