/**
 * The observer: the runner's view of the fleet over MQTT. It keeps what scenario expectations ask about, per
 * device: telemetry count and sequence health (gaps, duplicates, late arrivals), online status, latest reported
 * state, event counts by name; and message counts per topic.
 *
 * It subscribes the way a monitoring client of a busy broker should, on two connections:
 * - **state** (QoS 1): status, info, reported and desired state, events and replies. Few messages, each of which
 *   a check may depend on. Not commands: the runner counts what it sent itself.
 * - **stream** (QoS 0): telemetry and device logs, most of the traffic. Telemetry carries a sequence number, so a loss
 *   is visible; at QoS 0 a broker sends it at once instead of holding it in the small per-client queue of QoS 1
 *   messages (mosquitto's `max_queued_messages`, 1000 by default), which the telemetry of a large fleet would fill
 *   in well under a second and where the state messages would then be dropped.
 *
 * Topics under the prefix that are not part of the contract are not subscribed to (MQTT cannot say "everything but
 * telemetry"), so a `messages` condition counts contract topics only.
 *
 * It counts what it saw of each device, so the runner can compare that with what the device says it sent: a
 * shortfall is the observer's loss (or the broker's, to a slow subscriber), not the device's, and a check that
 * depends on it is inconclusive, not failed.
 *
 * Retained messages delivered because of the subscription (retain flag set [MQTT-3.3.1-8]; live ones arrive without
 * it [MQTT-3.3.1-9]) are state left on the broker before this run: they are never taken for this run's, unless the
 * device has already been seen live in this run (after a reconnect the broker sends the current retained state
 * again, which this run's devices wrote).
 *
 * It sees every message of the fleet, so each message handler is one named method over plain state records
 * (aedes's habit): no closure, promise or parsed topic array per message, and telemetry's `seq` is read straight
 * from the payload bytes instead of JSON-parsing every sample.
 */
import type { MqttClient } from 'mqtt'
import { delay } from '../core/clock.ts'
import { WorkflowAction } from '../core/device-update.ts'
import { FleetError } from '../core/errors.ts'
import { CHANNEL_INDEX, CHANNELS, filterMatcher, STATUS_OFFLINE, STATUS_ONLINE, type TopicClassifier, type Topics } from '../core/topics.ts'
import { createMqttClient, describeTarget, endClient, isSubscriptionRefused, reconnectWithBackoff, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'

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
  /**
   * When (`performance.now()`) the observer last received `online` from the device (live, or redelivered as retained
   * after the observer reconnected); 0: never. Compared with {@link Observer.lastLossAt} it tells whether the device
   * has announced itself again since the broker went away.
   */
  onlineAt: number
  /** Latest reported state (parsed), or undefined. */
  reported: Record<string, unknown> | undefined
  /** The latest reported payload was not a JSON object: `reported` is then undefined, not a stale value. */
  reportedUnreadable: boolean
  /** Events received, by name. */
  events: Map<string, number> | undefined
  /** Live messages received from the device in this run (every channel it publishes on). */
  messages: number
  /** Seen live in this run: retained state redelivered after a reconnect is then this run's, not stale. */
  live: boolean
  /**
   * Firmware update offers written to its desired twin during the run (`deviceUpdate.service.workflow` with action
   * "process deployment", docs/rollouts.md), by workflow id (the deployment id); a retry counts as an offer too.
   */
  offers: Map<string, number> | undefined
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

/** How the observer's own connections fared. */
export interface ObserverHealth {
  /** Times a connection of the observer was lost and made again. */
  reconnects: number
  /** Milliseconds during which at least one of its connections was down. */
  downMs: number
}

const SEQ_KEY = Buffer.from('"seq":')
const DEVICE_UPDATE_KEY = Buffer.from('"deviceUpdate"')

function newDevice (id: string): DeviceObservation {
  return { id, telemetry: 0, lastSeq: 0, missing: 0, gaps: [], duplicates: 0, outOfOrder: 0, malformed: 0, status: undefined, onlineAt: 0, reported: undefined, reportedUnreadable: false, events: undefined, messages: 0, live: false, offers: undefined }
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
  /** Client id stem; the two connections add `-state` and `-stream`. */
  clientId?: string
  connectTimeoutMs?: number
  /** How long start() waits for the retained state from before the run to be delivered (default 3000 ms). */
  syncTimeoutMs?: number
  /** This run's id: a retained reported state stamped with it (`"$run":"…"`) is this run's, whoever sent it when. */
  runId?: string
}

/** The channels the state connection carries, at QoS 1 (the stream connection ignores them). */
const STATE_FILTERS = ['status', 'info', 'reported', 'desired', 'event', 'reply'] as const
/** The channels the stream connection carries, at QoS 0. */
const STREAM_FILTERS = ['telemetry', 'log'] as const
// Channel indexes of the shared classifier (core/topics.ts), read once.
const { telemetry: TELEMETRY, log: LOG, status: STATUS, reported: REPORTED, info: INFO, event: EVENT, reply: REPLY, desired: DESIRED, command: COMMAND, rolloutFetch: ROLLOUT_FETCH } = CHANNEL_INDEX
/** Device channels come first in the channel table; bridge channels after them. */
const DEVICE_CHANNELS = CHANNELS.length

/** After the marker, the retained burst is over once none has come for this long. */
const RETAINED_QUIET_MS = 100
/**
 * The client ids of an observer's two connections (state at QoS 1; telemetry and logs at QoS 0), for a broker that
 * gives them a queue of their own.
 */
export function observerClientIds (clientId: string): [state: string, stream: string] {
  return [`${clientId}-state`, `${clientId}-stream`]
}

/** Where the observer marks the end of the retained burst: `{p}/.sync/{clientId}`; no device id starts with a dot. */
const SYNC_LEVEL = '.sync'
/**
 * Where each run on a shared broker announces itself while it is live: `{p}/.run/{runId}`, retained, with the
 * runner's last will clearing it (an empty retained message [MQTT-3.3.1-10]) should the runner vanish.
 */
export const RUN_LEVEL = '.run'

export class Observer {
  readonly devices = new Map<string, DeviceObservation>()
  readonly traffic: TrafficCounts = { messages: 0, bytes: 0, telemetry: 0, events: 0, status: 0, reported: 0, desired: 0, commands: 0, replies: 0, logs: 0, info: 0, other: 0, retainedAtStart: 0 }
  readonly health: ObserverHealth = { reconnects: 0, downMs: 0 }
  /** Messages per topic (live messages only); command and reply topics are counted with their request id as `+`. */
  readonly topicCounts = new Map<string, number>()
  /** Devices whose retained status from before the run says `online`: another run may be using them. */
  readonly retainedOnline = new Set<string>()
  /** Runs announced under the prefix (`{p}/.run/{runId}`), by run id: their announcement, as JSON text. */
  readonly runs = new Map<string, string>()
  /** Every topic under the prefix that held a retained message from before the run (to clear on request). */
  readonly retainedTopics = new Set<string>()
  /** The keys of {@link topicCounts} in the order they first appeared. */
  private readonly topicKeys: string[] = []
  private readonly scans = new Map<string, { match: (topic: string) => boolean; seen: number; keys: string[] }>()
  private readonly options: ObserverOptions
  private readonly prefixSlash: string
  private readonly syncTopic: string
  private readonly runPrefix: string
  /** The one reading of the topic layout, shared with every other part (core/topics.ts). */
  private readonly classifier: TopicClassifier
  /** `"$run":"<runId>"` as bytes, looked for in retained reported states; undefined without a run id. */
  private readonly runStamp: Buffer | undefined
  private readonly clientId: string
  private state: MqttClient | undefined
  private stream: MqttClient | undefined
  private synced: (() => void) | undefined
  private lastRetainedAt = 0
  private down = 0
  private downSince = 0
  private readonly listeners = new Set<(up: boolean) => void>()
  private readonly onlineListeners = new Set<(deviceId: string) => void>()
  /** When (`performance.now()`) a connection of the observer was last lost; 0: never. */
  private lostAt = 0

  constructor (options: ObserverOptions) {
    this.options = options
    this.prefixSlash = `${options.topics.prefix}/`
    this.clientId = options.clientId ?? `homefleet-observer-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    this.syncTopic = `${this.prefixSlash}${SYNC_LEVEL}/${this.clientId}`
    this.runPrefix = `${this.prefixSlash}${RUN_LEVEL}/`
    this.classifier = options.topics.classifier()
    this.runStamp = options.runId === undefined ? undefined : Buffer.from(`"$run":${JSON.stringify(options.runId)}`)
  }

  /** Where the observer connects, for messages. */
  get where (): string { return describeTarget(this.options.target) }

  /** Both connections up. */
  get connected (): boolean { return this.state?.connected === true && this.stream?.connected === true }

  /** Called with false when a connection of the observer is lost, true when both are up again. */
  onConnection (listener: (up: boolean) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** When (`performance.now()`) a connection of the observer, and so most likely the broker, was last lost; 0: never. */
  get lastLossAt (): number { return this.lostAt }

  /**
   * Called with a device's id each time the observer receives `online` from it: live, or redelivered as retained to
   * the observer after a reconnect (a device announces `online` only once its subscriptions are acknowledged, so a
   * command published after that reaches it). Few messages: one per device connection.
   */
  onOnline (listener: (deviceId: string) => void): () => void {
    this.onlineListeners.add(listener)
    return () => { this.onlineListeners.delete(listener) }
  }

  /**
   * Connect both clients, subscribe, and wait (bounded) until the retained state from before the run has been
   * delivered. Rejects with FLEET_ERR_BROKER_UNREACHABLE / _REFUSED (after closing the clients).
   */
  async start (): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000
    const make = (clientId: string, onMessage: (topic: string, payload: Buffer, packet: { retain?: boolean }) => void): MqttClient => {
      const client = createMqttClient(this.options.target, { clientId, clean: true, reconnectPeriod: 250, connectTimeout: timeoutMs })
      client.on('message', onMessage)
      // Errors after the first connection are reconnects (MQTT.js retries); waitConnected reports the first one.
      client.on('error', noop)
      reconnectWithBackoff(client, { initialMs: 250, maxMs: 2000 })
      return client
    }
    const [stateId, streamId] = observerClientIds(this.clientId)
    const state = this.state = make(stateId, this.onStateMessage)
    const stream = this.stream = make(streamId, this.onStreamMessage)
    try {
      await Promise.all([waitConnected(state, this.options.target, timeoutMs), waitConnected(stream, this.options.target, timeoutMs)])
      const t = this.options.topics
      const synced = new Promise<void>((resolve) => { this.synced = resolve })
      await Promise.all([
        // A device's update agent asking the rollout service for a file is a message the device sent: seen here, so
        // that the devices' own count of what they sent and the observer's agree.
        subscribe(state, [...STATE_FILTERS.map((c) => t.filter(c)), t.filter('rolloutFetch'), `${this.prefixSlash}${RUN_LEVEL}/+`, this.syncTopic], 1, this.where),
        subscribe(stream, STREAM_FILTERS.map((c) => t.filter(c)), 0, this.where)
      ])
      // The broker sends the retained messages of a new subscription after its SUBACK and before anything published
      // later, so our own marker arrives after them; bounded, as a broker that drops messages may drop it too.
      state.publish(this.syncTopic, '', { qos: 1 })
      const deadline = performance.now() + (this.options.syncTimeoutMs ?? 3000)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([synced, new Promise<void>((resolve) => { timer = setTimeout(resolve, deadline - performance.now()) })])
      clearTimeout(timer)
      this.synced = undefined
      // aedes streams retained messages out asynchronously, so some may still follow the marker: wait for a quiet
      // moment too (bounded by the same deadline).
      while (performance.now() - this.lastRetainedAt < RETAINED_QUIET_MS && performance.now() < deadline) await delay(RETAINED_QUIET_MS / 2)
    } catch (err) {
      await this.stop()
      throw err
    }
    for (const client of [state, stream]) {
      client.on('offline', () => { this.connectionChanged(client, false) })
      client.on('connect', () => { this.connectionChanged(client, true) })
    }
  }

  private readonly wasDown = new WeakSet<MqttClient>()
  private connectionChanged (client: MqttClient, up: boolean): void {
    if (up === !this.wasDown.has(client)) return
    if (up) {
      this.wasDown.delete(client)
      this.health.reconnects++
      if (--this.down === 0) this.health.downMs += performance.now() - this.downSince
    } else {
      this.wasDown.add(client)
      this.lostAt = performance.now()
      if (this.down++ === 0) this.downSince = this.lostAt
    }
    const allUp = this.down === 0
    if (!up || allUp) for (const l of this.listeners) l(allUp)
  }

  /** End both connections; bounded (a broker that stopped answering cannot hold it). */
  async stop (): Promise<void> {
    const clients = [this.state, this.stream].filter((c): c is MqttClient => c !== undefined)
    this.state = undefined
    this.stream = undefined
    this.listeners.clear()
    this.onlineListeners.clear()
    if (this.down > 0) { this.health.downMs += performance.now() - this.downSince; this.down = 0 }
    await Promise.all(clients.map(async (client) => {
      client.off('message', this.onStateMessage)
      client.off('message', this.onStreamMessage)
      await endClient(client, true)
    }))
  }

  device (id: string): DeviceObservation | undefined { return this.devices.get(id) }

  /** Count a command the runner sent: the observer does not subscribe to commands, the runner knows what it sent. */
  countCommand (deviceId: string, name: string, bytes: number): void {
    this.traffic.commands++
    this.traffic.messages++
    this.traffic.bytes += bytes
    this.count(`${this.prefixSlash}${deviceId}/commands/${name}/+`)
  }

  private count (key: string): void {
    const n = this.topicCounts.get(key)
    if (n === undefined) this.topicKeys.push(key)
    this.topicCounts.set(key, (n ?? 0) + 1)
  }

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

  // The hot path: bound methods, one per observer, so no function is made per message.
  private readonly onStateMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
    if (this.synced !== undefined && topic === this.syncTopic) { this.synced(); return }
    if (topic.startsWith(this.runPrefix)) {
      const id = topic.slice(this.runPrefix.length)
      if (payload.length === 0) this.runs.delete(id)
      else this.runs.set(id, payload.toString('utf8'))
      return
    }
    this.onMessage(topic, payload, packet.retain === true, true)
  }

  private readonly onStreamMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
    this.onMessage(topic, payload, packet.retain === true, false)
  }

  private onMessage (topic: string, payload: Buffer, retained: boolean, fromState: boolean): void {
    const t = this.traffic
    const key = this.route(topic, payload, retained, fromState)
    // Undefined: the other connection's channel, or retained state from before the run.
    if (key === undefined || retained) return
    t.messages++
    t.bytes += payload.length
    this.count(key)
  }

  /**
   * Keep what the message says about its device; return the key it is counted under in {@link topicCounts}: the
   * topic itself, except commands and replies, whose last level (a fresh request id) is counted as `+`, so the
   * table grows with devices, not with requests (a filter's `+` still matches that level). Undefined for a message
   * this connection leaves to the other one, and for retained state from before the run (counted apart).
   */
  private route (topic: string, payload: Buffer, retained: boolean, fromState: boolean): string | undefined {
    const t = this.traffic
    const c = this.classifier
    const ch = c.classify(topic)
    const device = ch >= 0 && ch < DEVICE_CHANNELS
    const id = device ? topic.slice(c.spans[0], c.spans[1]) : ''
    if (retained) {
      this.lastRetainedAt = performance.now()
      // Retained topics of devices not live in this run are stale (telemetry and logs are never retained).
      if (!device || this.devices.get(id)?.live !== true) this.retainedTopics.add(topic)
    }
    if (!device) {
      // Not a device's topic of the contract (the bridge's, or unknown): counted once, by the state connection.
      if (!fromState || retained) return undefined
      if (ch === ROLLOUT_FETCH) {
        // Sent by a device (its update agent): the device's message; the request id is counted as `+`.
        t.other++
        this.seen(topic.slice(c.spans[0], c.spans[1]))
        return `${topic.slice(0, c.spans[2])}+`
      }
      t.other++
      return topic
    }
    // The stream connection carries telemetry and logs; the state connection the rest.
    if (ch === TELEMETRY || ch === LOG) {
      if (fromState || retained) return undefined
      const d = this.seen(id)
      if (ch === TELEMETRY) { t.telemetry++; this.onTelemetry(d, payload) } else t.logs++
      return topic
    }
    if (!fromState) return undefined
    if (retained) {
      // State from before this run, unless the device is already live in it (a redelivery after a reconnect), or it
      // is a reported state stamped with this run's id.
      if (ch === REPORTED && this.runStamp !== undefined && payload.includes(this.runStamp)) {
        this.onReported(this.device$(id), payload)
        return undefined
      }
      const d = this.devices.get(id)
      if (d?.live !== true) {
        t.retainedAtStart++
        if (ch === STATUS) {
          if (payload.toString('utf8') === STATUS_ONLINE) this.retainedOnline.add(id)
          else this.retainedOnline.delete(id)
        }
        return undefined
      }
      if (ch === STATUS) this.onStatus(d, payload)
      else if (ch === REPORTED) this.onReported(d, payload)
      return undefined
    }
    switch (ch) {
      case STATUS: t.status++; this.onStatus(this.seen(id), payload); return topic
      case REPORTED: t.reported++; this.onReported(this.seen(id), payload); return topic
      case INFO: t.info++; this.seen(id); return topic
      case EVENT: {
        t.events++
        const d = this.seen(id)
        const name = topic.slice(c.spans[2], c.spans[3])
        d.events ??= new Map()
        d.events.set(name, (d.events.get(name) ?? 0) + 1)
        return topic
      }
      // The request id (a fresh level per request) is counted as `+`, so the table grows with devices.
      case REPLY: t.replies++; this.seen(id); return `${topic.slice(0, c.spans[2])}+`
      // Desired state is the controller's, not the device's: not counted as the device's message.
      case DESIRED: t.desired++; this.onDesired(id, payload); return topic
      // Commands are not subscribed to (the runner counts its own); another controller's, seen anyway, are counted.
      case COMMAND: t.commands++; return `${topic.slice(0, c.spans[4])}+`
      default: t.other++; return topic
    }
  }

  /** The device's record, marked live, with one more message counted. */
  private seen (id: string): DeviceObservation {
    const d = this.device$(id)
    d.live = true
    d.messages++
    return d
  }

  private onStatus (d: DeviceObservation, payload: Buffer): void {
    const s = payload.toString('utf8')
    d.status = s === STATUS_ONLINE ? 'online' : s === STATUS_OFFLINE ? 'offline' : d.status
    if (s !== STATUS_ONLINE) return
    d.onlineAt = performance.now()
    for (const l of this.onlineListeners) l(d.id)
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

  /** A rollout service's offer in a desired twin: counted per device and workflow id. Few messages: parsed. */
  private onDesired (id: string, payload: Buffer): void {
    if (!payload.includes(DEVICE_UPDATE_KEY)) return
    let workflow: { action?: unknown; id?: unknown } | undefined
    try {
      workflow = (JSON.parse(payload.toString('utf8')) as { deviceUpdate?: { service?: { workflow?: { action?: unknown; id?: unknown } } } }).deviceUpdate?.service?.workflow
    } catch { return }
    if (workflow?.action !== WorkflowAction.ProcessDeployment || typeof workflow.id !== 'string') return
    const d = this.device$(id)
    d.offers ??= new Map()
    d.offers.set(workflow.id, (d.offers.get(workflow.id) ?? 0) + 1)
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

/** Subscribe, turning a refusal or a lost connection into the FleetError the runner reports (exit 3). */
async function subscribe (client: MqttClient, filters: string[], qos: 0 | 1, where: string): Promise<void> {
  try {
    await client.subscribeAsync(filters, { qos })
  } catch (err) {
    const refused = isSubscriptionRefused(err)
    throw new FleetError(refused ? 'FLEET_ERR_BROKER_REFUSED' : 'FLEET_ERR_BROKER_UNREACHABLE', `${where} ${refused ? 'refused the subscription to' : 'did not acknowledge the subscription to'} ${filters.join(', ')}: ${(err as Error).message}`, { cause: err })
  }
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
