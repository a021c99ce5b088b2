/**
 * The observer: one MQTT client subscribed to `{prefix}/#` that keeps what scenario expectations ask about, per
 * device: telemetry count and sequence health (gaps, duplicates, late arrivals), online status, latest reported
 * state, event counts by name; and message counts per topic.
 *
 * It sees every message of the fleet, so the message handler is one named method over plain state records
 * (aedes's habit): no closure, promise or parsed topic array per message, and telemetry's `seq` is read straight
 * from the payload bytes instead of JSON-parsing every sample.
 */
import type { MqttClient } from 'mqtt'
import { filterMatcher, STATUS_OFFLINE, STATUS_ONLINE, type Topics } from '../core/topics.ts'
import { createMqttClient, endClient, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'

export interface DeviceObservation {
  readonly id: string
  /** Telemetry messages received. */
  telemetry: number
  /** Highest telemetry `seq` seen (0: none yet). */
  lastSeq: number
  /** Sequence numbers skipped and not (yet) received late. */
  missing: number
  /** Every missing range, inclusive (`[12, 14]`), exact: late arrivals split or shrink them. */
  gaps: Array<[number, number]>
  /** Telemetry with a `seq` seen before. */
  duplicates: number
  /** Telemetry that arrived after a higher `seq` (filling a gap). */
  outOfOrder: number
  /** Telemetry whose payload had no readable `seq`. */
  malformed: number
  /** Last `status` payload: `online`, `offline`, or undefined if none seen. */
  status: 'online' | 'offline' | undefined
  /** Latest reported state (parsed), or undefined. */
  reported: Record<string, unknown> | undefined
  /** The latest reported payload was not a JSON object: `reported` is then undefined, not a stale value. */
  reportedUnreadable: boolean
  /** Events received, by name. */
  events: Map<string, number> | undefined
}

export interface TrafficCounts {
  messages: number
  bytes: number
  telemetry: number
  events: number
  status: number
  reported: number
  desired: number
  commands: number
  replies: number
  logs: number
  info: number
  /** Topics under the prefix that are not part of the contract, and anything else. */
  other: number
  /** Retained messages delivered at subscription time (state from before the run); not in the counts above. */
  retainedAtStart: number
}

const SEQ_KEY = Buffer.from('"seq":')

function newDevice (id: string): DeviceObservation {
  return { id, telemetry: 0, lastSeq: 0, missing: 0, gaps: [], duplicates: 0, outOfOrder: 0, malformed: 0, status: undefined, reported: undefined, reportedUnreadable: false, events: undefined }
}

/** The integer after `"seq":` in a JSON payload, without parsing the rest; -1 when absent or not an integer. */
export function readSeq (payload: Buffer): number {
  let i = payload.indexOf(SEQ_KEY)
  if (i < 0) return -1
  i += SEQ_KEY.length
  while (i < payload.length && payload[i] === 0x20) i++
  let n = 0
  let digits = 0
  for (; i < payload.length; i++) {
    const c = payload[i] as number
    if (c < 0x30 || c > 0x39) break
    n = n * 10 + (c - 0x30)
    digits++
  }
  return digits === 0 || digits > 15 ? -1 : n
}

export interface ObserverOptions {
  target: BrokerTarget
  topics: Topics
  clientId?: string
  connectTimeoutMs?: number
}

export class Observer {
  readonly devices = new Map<string, DeviceObservation>()
  readonly traffic: TrafficCounts = { messages: 0, bytes: 0, telemetry: 0, events: 0, status: 0, reported: 0, desired: 0, commands: 0, replies: 0, logs: 0, info: 0, other: 0, retainedAtStart: 0 }
  /** Messages per topic (live messages only); command and reply topics are counted with their request id as `+`. */
  readonly topicCounts = new Map<string, number>()
  /** The keys of {@link topicCounts} in the order they first appeared. */
  private readonly topicKeys: string[] = []
  private readonly scans = new Map<string, { match: (topic: string) => boolean; seen: number; keys: string[] }>()
  private readonly options: ObserverOptions
  private readonly prefixSlash: string
  private client: MqttClient | undefined

  constructor (options: ObserverOptions) {
    this.options = options
    this.prefixSlash = `${options.topics.prefix}/`
  }

  /** Connect and subscribe. Rejects with FLEET_ERR_BROKER_UNREACHABLE / _REFUSED (after closing the client). */
  async start (): Promise<void> {
    const client = createMqttClient(this.options.target, {
      clientId: this.options.clientId ?? `homefleet-observer-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000
    })
    this.client = client
    client.on('message', this.onMessage)
    // Errors after the first connection are reconnects (MQTT.js retries); waitConnected reports the first one.
    client.on('error', noop)
    try {
      await waitConnected(client, this.options.target, this.options.connectTimeoutMs ?? 10_000)
      await client.subscribeAsync(this.options.topics.all(), { qos: 1 })
    } catch (err) {
      this.client = undefined
      await endClient(client, true)
      throw err
    }
  }

  async stop (): Promise<void> {
    const client = this.client
    this.client = undefined
    if (client === undefined) return
    client.off('message', this.onMessage)
    await endClient(client, !client.connected)
  }

  device (id: string): DeviceObservation | undefined { return this.devices.get(id) }

  /**
   * Live messages whose topic matches an MQTT filter. A check with `within` asks this every poll: each filter keeps
   * the keys it matched and how far into {@link topicKeys} it has looked, so a poll tests only topics new since.
   */
  countMatching (filter: string): number {
    let scan = this.scans.get(filter)
    if (scan === undefined) this.scans.set(filter, scan = { match: filterMatcher(filter), seen: 0, keys: [] })
    for (; scan.seen < this.topicKeys.length; scan.seen++) {
      const key = this.topicKeys[scan.seen] as string
      if (scan.match(key)) scan.keys.push(key)
    }
    let n = 0
    for (const key of scan.keys) n += this.topicCounts.get(key) ?? 0
    return n
  }

  private device$ (id: string): DeviceObservation {
    let d = this.devices.get(id)
    if (d === undefined) { d = newDevice(id); this.devices.set(id, d) }
    return d
  }

  // The hot path: a bound method, one per observer, so no function is made per message.
  private readonly onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
    const t = this.traffic
    // [MQTT-3.3.1-8]: retain is set only on messages sent because of a new subscription, i.e. from before the run.
    if (packet.retain === true) {
      t.retainedAtStart++
      this.route(topic, payload, true)
      return
    }
    t.messages++
    t.bytes += payload.length
    const key = this.route(topic, payload, false)
    const n = this.topicCounts.get(key)
    if (n === undefined) this.topicKeys.push(key)
    this.topicCounts.set(key, (n ?? 0) + 1)
  }

  /**
   * Keep what the message says about its device; return the key it is counted under in {@link topicCounts}: the
   * topic itself, except commands and replies, whose last level (a fresh request id) is counted as `+`, so the
   * table grows with devices, not with requests (a filter's `+` still matches that level).
   */
  private route (topic: string, payload: Buffer, stale: boolean): string {
    const t = this.traffic
    const p = this.prefixSlash
    if (!topic.startsWith(p)) { if (!stale) t.other++; return topic }
    const slash = topic.indexOf('/', p.length)
    if (slash < 0) { if (!stale) t.other++; return topic }
    const id = topic.slice(p.length, slash)
    const rest = slash + 1
    const restLen = topic.length - rest
    if (restLen === 9 && topic.startsWith('telemetry', rest)) {
      if (!stale) { t.telemetry++; this.onTelemetry(this.device$(id), payload) }
    } else if (restLen === 6 && topic.startsWith('status', rest)) {
      if (!stale) t.status++
      const d = this.device$(id)
      const s = payload.toString('utf8')
      d.status = s === STATUS_ONLINE ? 'online' : s === STATUS_OFFLINE ? 'offline' : d.status
    } else if (topic.startsWith('events/', rest)) {
      if (!stale) {
        t.events++
        const name = topic.slice(rest + 7)
        const d = this.device$(id)
        d.events ??= new Map()
        d.events.set(name, (d.events.get(name) ?? 0) + 1)
      }
    } else if (restLen === 14 && topic.startsWith('state/reported', rest)) {
      if (!stale) t.reported++
      this.onReported(this.device$(id), payload)
    } else if (stale) {
      // Other retained channels (info, desired) carry nothing the expectations ask about.
    } else if (topic.startsWith('replies/', rest)) {
      t.replies++
      return withLastLevelAsPlus(topic, rest + 7)
    } else if (topic.startsWith('commands/', rest)) {
      t.commands++
      return withLastLevelAsPlus(topic, rest + 8)
    } else if (restLen === 3 && topic.startsWith('log', rest)) t.logs++
    else if (restLen === 13 && topic.startsWith('state/desired', rest)) t.desired++
    else if (restLen === 4 && topic.startsWith('info', rest)) t.info++
    else t.other++
    return topic
  }

  private onReported (d: DeviceObservation, payload: Buffer): void {
    d.reported = undefined
    d.reportedUnreadable = false
    if (payload.length === 0) return
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'))
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) d.reported = v as Record<string, unknown>
      else d.reportedUnreadable = true
    } catch {
      // Never keep the previous value: a state check must not pass on what the device no longer reports.
      d.reportedUnreadable = true
    }
  }

  private onTelemetry (d: DeviceObservation, payload: Buffer): void {
    d.telemetry++
    const seq = readSeq(payload)
    if (seq < 0) { d.malformed++; return }
    const last = d.lastSeq
    if (seq === last + 1) { d.lastSeq = seq; return }
    if (seq > last) {
      // Sequence numbers start at 1, so a first message with seq 5 means 1..4 were lost.
      d.missing += seq - last - 1
      d.gaps.push([last + 1, seq - 1])
      d.lastSeq = seq
      return
    }
    // seq <= last: a late arrival filling a gap, or a duplicate.
    if (fillGap(d, seq)) { d.outOfOrder++; d.missing-- } else d.duplicates++
  }
}

/** `home/d1/replies/+` for `home/d1/replies/r-17`: the last level replaced, if it comes after the channel's slash. */
function withLastLevelAsPlus (topic: string, channelSlash: number): string {
  const last = topic.lastIndexOf('/')
  return last < channelSlash ? topic : `${topic.slice(0, last)}/+`
}

/** Remove `seq` from a recorded missing range; false when it was not missing (a duplicate). */
function fillGap (d: DeviceObservation, seq: number): boolean {
  for (let i = 0; i < d.gaps.length; i++) {
    const g = d.gaps[i] as [number, number]
    if (seq < g[0] || seq > g[1]) continue
    if (g[0] === g[1]) d.gaps.splice(i, 1)
    else if (seq === g[0]) g[0]++
    else if (seq === g[1]) g[1]--
    else d.gaps.splice(i, 1, [g[0], seq - 1], [seq + 1, g[1]])
    return true
  }
  return false
}

function noop (): void {}
