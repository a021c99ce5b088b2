/**
 * Watching device logs: the programmatic API under `fleet logs`. {@link LogRouter} is the pure part (topic and
 * payload in, lines to show out), {@link watchDeviceLogs} turns a connected MQTT.js client into a stream of lines.
 *
 * Kind and room come from each device's retained info message, which may arrive after the device's first log
 * lines (retained messages follow the SUBACK, and a device may log before it announces itself). When a filter
 * needs kind or room, such lines are held per device, bounded, and decided when the info arrives; otherwise they
 * are shown at once without the room.
 */
import type { MqttClient } from 'mqtt'
import { mergeMap, type Observable } from 'rxjs'
import { mqttMessages } from '../core/streams.ts'
import { isDeviceTopic, type Topics } from '../core/topics.ts'
import { parseInfoPayload, parseLogPayload, type DeviceInfo, type LogFilter, type LogRecord } from './log-format.ts'

export interface LogEntry {
  readonly record: LogRecord
  /** The device's info when known. */
  readonly info: DeviceInfo | undefined
}

export interface LogRouterOptions {
  /** Lines held per device while its info is unknown; the oldest are dropped beyond this. Default 1000. */
  holdPerDevice?: number
  /** Time of receipt, for lines without a usable `ts`. Default `Date.now`. */
  now?: () => number
}

/**
 * The lines held for one device: a FIFO bounded by `limit`, where a full queue drops its oldest line. Removing from
 * the front moves an index instead of shifting the array (`Array.shift` is O(n), per line of a flooding device);
 * the array is compacted once the dropped prefix is as long as the limit: at most `limit` copies per `limit` lines,
 * so O(1) per line.
 */
class HoldQueue {
  private items: LogRecord[] = []
  private head = 0
  constructor (private readonly limit: number) {}

  /** Add a line; true when the oldest line was dropped to make room. */
  push (record: LogRecord): boolean {
    this.items.push(record)
    if (this.items.length - this.head <= this.limit) return false
    this.head++
    if (this.head >= this.limit) { this.items = this.items.slice(this.head); this.head = 0 }
    return true
  }

  get length (): number { return this.items.length - this.head }
  /** The held lines, oldest first. */
  toArray (): LogRecord[] { return this.items.slice(this.head) }
}

export class LogRouter {
  private readonly topics: Topics
  private readonly filter: LogFilter
  private readonly infos = new Map<string, DeviceInfo>()
  private readonly waiting = new Map<string, HoldQueue>()
  private readonly holdPerDevice: number
  private readonly now: () => number
  private droppedCount = 0

  constructor (topics: Topics, filter: LogFilter, options: LogRouterOptions = {}) {
    this.topics = topics
    this.filter = filter
    this.holdPerDevice = options.holdPerDevice ?? 1000
    this.now = options.now ?? Date.now
  }

  /** Feed one message; returns what to show now, in order (possibly lines held earlier). Never throws. */
  accept (topic: string, payload: Buffer | string): LogEntry[] {
    const parsed = this.topics.parse(topic)
    if (!isDeviceTopic(parsed)) return []
    // The device filter, once per message: before parsing the payload, and before keeping the device's info.
    if (!this.filter.matchesDevice(parsed.deviceId)) return []
    if (parsed.channel === 'info') return this.onInfo(parsed.deviceId, payload)
    if (parsed.channel !== 'log') return []
    const record = parseLogPayload(parsed.deviceId, payload, this.now())
    const info = this.infos.get(parsed.deviceId)
    switch (this.filter.decide(record, info)) {
      case 'show': return [{ record, info }]
      case 'hide': return []
      case 'wait': {
        let queue = this.waiting.get(parsed.deviceId)
        if (queue === undefined) { queue = new HoldQueue(this.holdPerDevice); this.waiting.set(parsed.deviceId, queue) }
        if (queue.push(record)) this.droppedCount++
        return []
      }
    }
  }

  private onInfo (deviceId: string, payload: Buffer | string): LogEntry[] {
    const info = parseInfoPayload(payload)
    if (info === undefined) { this.infos.delete(deviceId); return [] }
    this.infos.set(deviceId, info)
    const queue = this.waiting.get(deviceId)
    if (queue === undefined) return []
    this.waiting.delete(deviceId)
    return queue.toArray().filter((record) => this.filter.decide(record, info) === 'show').map((record) => ({ record, info }))
  }

  /** Lines still waiting for their device's info. */
  get held (): number {
    let n = 0
    for (const q of this.waiting.values()) n += q.length
    return n
  }

  /**
   * Lines dropped, undecided, because a device's hold queue was full while its info was unknown (whether or not the
   * info came later).
   */
  get dropped (): number { return this.droppedCount }
}

export interface WatchOptions extends LogRouterOptions {
  topics: Topics
  filter: LogFilter
}

export interface LogWatch {
  readonly router: LogRouter
  /**
   * The lines that pass the filter, in order. Subscribing subscribes to the info and log topics (only the exact
   * devices' topics when the filter names exact ids); unsubscribing (or `take`, `takeUntil`) unsubscribes.
   */
  readonly entries$: Observable<LogEntry>
}

/** Device log lines from `client` as a stream, routed through a {@link LogRouter}. */
export function watchDeviceLogs (client: MqttClient, options: WatchOptions): LogWatch {
  const { topics, filter } = options
  const router = new LogRouter(topics, filter, options)
  const ids = filter.exactDevices
  const subscriptions = ids === undefined
    ? [topics.filter('info'), topics.filter('log')]
    : ids.flatMap((id) => [topics.info(id), topics.log(id)])
  const entries$ = mqttMessages(client, subscriptions).pipe(mergeMap((m) => router.accept(m.topic, m.payload)))
  return { router, entries$ }
}
