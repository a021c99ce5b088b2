/**
 * Delivery to subscribers: the broker's outbound hot path, installed on each aedes client in place of its own
 * `deliver0` (QoS 0) and around its `deliverQoS` (QoS 1 and 2).
 *
 * aedes delivers each QoS 0 message with a `setImmediate` and two closures, and encodes it afresh for every
 * subscriber with several small socket writes. Here:
 * - a message is encoded once, into one buffer, and that buffer is written to every subscriber it goes to;
 * - writes are batched: a subscriber's socket is corked at its first write in a tick and uncorked once at the end
 *   of the tick, so a burst goes out in one `writev`;
 * - no closure or promise is made per message: per-client state lives on one small object made at connection.
 *
 * Slow subscribers, and ingress backpressure. Each subscriber's queue is its socket's write buffer, bounded in
 * bytes:
 * - above `pauseBytes` the delivery holds the publisher: the router's completion for that message is kept until the
 *   subscriber's socket drains, and aedes does not read that publisher's socket again until its messages complete.
 *   Memory stays bounded and a subscriber that is merely busy is not flooded;
 * - a subscriber that has not drained for `slowMs` is *lagging*: publishers no longer wait for it (so it cannot stall
 *   the others), and its QoS 0 messages beyond `queueBytes` are dropped and counted [MQTT-4.3.1: at most once];
 * - QoS 1 and 2 messages are kept up to `qos1QueueBytes`, then dropped and counted too; aedes still disconnects a
 *   subscriber whose socket has not drained for its `drainTimeout`.
 */
import type { Client } from 'aedes'

/** Limits of the per-subscriber queue (the socket's write buffer). */
export interface DeliveryLimits {
  /** Bytes queued for one subscriber above which its publishers wait for it (unless it is lagging). */
  pauseBytes: number
  /** Bytes queued for one subscriber above which its QoS 0 messages are dropped. */
  queueBytes: number
  /** In place of `queueBytes`, for the subscribers with these client ids (e.g. a scenario run's own observer). */
  queueBytesById?: ReadonlyMap<string, number> | undefined
  /** Bytes queued for one subscriber above which its QoS 1 and 2 messages are dropped. */
  qos1QueueBytes: number
  /** Milliseconds without a drain after which a congested subscriber is lagging. */
  slowMs: number
}

/** Counters of the delivery path, for the broker's stats. */
export interface DeliveryStats {
  /** QoS 0 messages written to subscribers. */
  delivered: number
  /** QoS 0 messages dropped because a subscriber's queue was full. */
  droppedQos0: number
  /** QoS 1 and 2 messages dropped because a subscriber's queue was full. */
  droppedQos1: number
  /** Times a publisher was held because a subscriber's queue was above `pauseBytes`. */
  publisherWaits: number
  /** Subscribers whose socket is congested now (above its high-water mark, waiting for a drain). */
  congested: number
  /** Subscribers marked lagging now. */
  lagging: number
}

/** One subscriber's queue, as {@link DeliveryCore.subscriberStats} reports it. */
export interface SubscriberStats {
  /** Bytes waiting in the subscriber's socket buffer. */
  queuedBytes: number
  droppedQos0: number
  droppedQos1: number
  lagging: boolean
}

type Done = () => void

/** The fields of aedes' Client (lib/client.js) the delivery path reads. */
interface AedesClient {
  id: string
  conn: NodeJS.WritableStream & { writableLength: number; writableNeedDrain: boolean; cork: () => void; uncork: () => void; destroyed: boolean; emit: (event: string) => boolean }
  connected: boolean
  connecting: boolean
  closed: boolean
  duplicates: Record<string, number>
  deliver0: (packet: DeliveredPacket, done: Done) => void
  deliverQoS: (packet: DeliveredPacket, done: Done) => void
}

/** The fields of an aedes packet that delivery reads. */
interface DeliveredPacket {
  topic: string
  payload: Buffer | string
  qos: number
  retain: boolean
  brokerId?: string
  brokerCounter?: number
  clientId?: string
  nl?: boolean
}

/** Per-connection delivery state: a few fields, plus a list of held completions made only when first needed. */
class Outbound {
  corked = false
  lagging = false
  /** In the core's watch list (congested, or with QoS 1/2 writes that aedes makes later, in a setImmediate). */
  watched = false
  /** Bytes of QoS 1/2 messages handed to aedes this tick and not yet in the socket buffer (aedes writes a tick later). */
  handed = 0
  congestedSince = 0
  droppedQos0 = 0
  droppedQos1 = 0
  held: Done[] | undefined = undefined
  /** This subscriber's QoS 0 queue limit, looked up by client id on its first delivery (the id is known by then). */
  private queueLimit = -1
  /** The socket's drain listener, bound the first time this subscriber congests (most connections never do). */
  private drainListener: (() => void) | undefined = undefined
  readonly deliver0: (packet: DeliveredPacket, done: Done) => void
  readonly deliverQoS: (packet: DeliveredPacket, done: Done) => void

  constructor (readonly core: DeliveryCore, readonly client: AedesClient, readonly aedesDeliverQoS: (packet: DeliveredPacket, done: Done) => void) {
    // Bound once per connection (not per message): aedes calls them detached, as its subscriptions' listeners.
    this.deliver0 = this.sendQos0.bind(this)
    this.deliverQoS = this.sendQos.bind(this)
  }

  private get onDrain (): () => void {
    return (this.drainListener ??= this.drained.bind(this))
  }

  private sendQos0 (packet: DeliveredPacket, done: Done): void {
    const core = this.core
    const client = this.client
    if ((!client.connected && !client.connecting) || client.closed || !firstCopy(client, packet)) { done(); return }
    const conn = client.conn
    const queued = conn.writableLength
    if (this.queueLimit < 0) this.queueLimit = core.limits.queueBytesById?.get(client.id ?? '') ?? core.limits.queueBytes
    if (queued >= this.queueLimit) {
      this.droppedQos0++
      core.droppedQos0++
      done()
      return
    }
    if (!this.corked) {
      this.corked = true
      conn.cork()
      core.corkedForTick(this)
    }
    conn.write(core.encodeQos0(packet))
    core.delivered++
    if (conn.writableNeedDrain) this.congested()
    if (queued >= core.limits.pauseBytes && !this.lagging) {
      // Ingress backpressure: hold this message's completion until the subscriber drains.
      core.publisherWaits++
      ;(this.held ??= []).push(done)
      return
    }
    done()
  }

  private sendQos (packet: DeliveredPacket, done: Done): void {
    if (packet.qos === 0) { this.sendQos0(packet, done); return }
    const core = this.core
    const conn = this.client.conn
    if (conn.writableLength + this.handed >= core.limits.qos1QueueBytes) {
      this.droppedQos1++
      core.droppedQos1++
      done()
      return
    }
    if (this.handed === 0) core.handedThisTick(this)
    this.handed += packetSize(packet)
    if (conn.writableNeedDrain) this.congested()
    // aedes writes QoS 1/2 messages a tick later: let the sweep look at this subscriber's socket then.
    else if (!this.watched) this.core.watch(this)
    // aedes holds `done` until the socket drains; a lagging subscriber must not hold its publishers, so the message
    // is handed over with no completion and the publisher goes on at once.
    if (this.lagging) {
      this.aedesDeliverQoS(packet, noop)
      done()
      return
    }
    this.aedesDeliverQoS(packet, done)
  }

  congested (): void {
    if (this.congestedSince !== 0) return
    this.congestedSince = Date.now()
    this.client.conn.once('drain', this.onDrain)
    this.core.watch(this)
  }

  /** The socket's buffer emptied: whatever waited on this subscriber may go on. */
  private drained (): void {
    this.congestedSince = 0
    this.lagging = false
    this.core.unwatch(this)
    this.releaseHeld()
  }

  /** No drain for `slowMs`: stop holding publishers for this subscriber. */
  markLagging (): void {
    if (this.lagging) return
    this.lagging = true
    this.core.laggingMarked++
    this.releaseHeld()
    // aedes holds the completions of QoS 1 and 2 writes to this subscriber on its socket's 'drain' (lib/write.js);
    // a drain signalled here lets those publishers go too. Our own drain listener is kept out of it, so the
    // subscriber stays lagging until its socket really drains.
    const conn = this.client.conn
    conn.removeListener('drain', this.onDrain)
    conn.emit('drain')
    if (!conn.destroyed) conn.once('drain', this.onDrain)
  }

  releaseHeld (): void {
    const held = this.held
    if (held === undefined || held.length === 0) return
    this.held = undefined
    for (let i = 0; i < held.length; i++) (held[i] as Done)()
  }

  /** The connection ended: nothing will drain; let every held publisher go. */
  closed (): void {
    this.core.unwatch(this)
    if (this.drainListener !== undefined) this.client.conn.removeListener('drain', this.drainListener)
    this.releaseHeld()
  }
}

function noop (): void {}

/** About the bytes a PUBLISH takes on the wire (header, topic, message id, payload): enough for a queue bound. */
function packetSize (packet: DeliveredPacket): number {
  return 9 + packet.topic.length + (typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length)
}

/**
 * Overlapping subscriptions deliver one copy per client: aedes' own rule (its `dedupe`), kept so a client subscribed
 * to both `a/#` and `a/b` gets `a/b` once ([MQTT-3.3.5-1] allows either).
 */
function firstCopy (client: AedesClient, packet: DeliveredPacket): boolean {
  const id = packet.brokerId
  if (id === undefined) return true
  const counter = packet.brokerCounter ?? 0
  if ((client.duplicates[id] ?? 0) >= counter) return false
  client.duplicates[id] = counter
  return true
}

/** Write the MQTT "remaining length" variable byte integer (§2.2.3) at `at`; returns the next offset. */
function writeVarint (buf: Buffer, at: number, value: number): number {
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    buf[at++] = byte
  } while (value > 0)
  return at
}

function varintLength (value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4
}

/** The delivery path shared by every connection of one broker. */
export class DeliveryCore {
  delivered = 0
  droppedQos0 = 0
  droppedQos1 = 0
  publisherWaits = 0
  laggingMarked = 0

  private readonly corked: Outbound[] = []
  private readonly handed: Outbound[] = []
  private readonly clearHanded: () => void
  private uncorkScheduled = false
  private readonly uncorkAll: () => void
  private readonly watched = new Set<Outbound>()
  private sweepTimer: NodeJS.Timeout | undefined
  private readonly sweep: () => void
  private readonly byClient = new WeakMap<object, Outbound>()
  // The last encoded QoS 0 PUBLISH: a message fanned out to many subscribers is encoded once.
  private lastCounter = -1
  private lastBrokerId: string | undefined = undefined
  private lastRetain = false
  private lastEncoded: Buffer | undefined = undefined

  constructor (readonly limits: Readonly<DeliveryLimits>) {
    this.uncorkAll = this.flush.bind(this)
    this.clearHanded = this.forgetHanded.bind(this)
    this.sweep = this.sweepLagging.bind(this)
  }

  /**
   * Take over an aedes client's delivery functions; call right after `aedes.handle()`, and {@link DeliveryCore.closed}
   * when its connection closes.
   */
  install (aedesClient: Client): void {
    const client = aedesClient as unknown as AedesClient
    const out = new Outbound(this, client, client.deliverQoS)
    client.deliver0 = out.deliver0
    client.deliverQoS = out.deliverQoS
    this.byClient.set(aedesClient, out)
  }

  /** A connection closed: release whatever waited on its subscriber. */
  closed (aedesClient: Client | undefined): void {
    if (aedesClient !== undefined) this.byClient.get(aedesClient)?.closed()
  }

  stats (): DeliveryStats {
    let lagging = 0
    let congested = 0
    for (const o of this.watched) {
      if (o.lagging) lagging++
      if (o.congestedSince !== 0) congested++
    }
    return {
      delivered: this.delivered,
      droppedQos0: this.droppedQos0,
      droppedQos1: this.droppedQos1,
      publisherWaits: this.publisherWaits,
      congested,
      lagging
    }
  }

  subscriberStats (aedesClient: Client): SubscriberStats | undefined {
    const out = this.byClient.get(aedesClient)
    if (out === undefined) return undefined
    return { queuedBytes: out.client.conn.writableLength, droppedQos0: out.droppedQos0, droppedQos1: out.droppedQos1, lagging: out.lagging }
  }

  /** Encode a QoS 0 PUBLISH [MQTT-3.3.1] into one buffer, reusing the previous one for the same message. */
  encodeQos0 (packet: DeliveredPacket): Buffer {
    const retain = packet.retain
    if (packet.brokerCounter === this.lastCounter && packet.brokerId === this.lastBrokerId && retain === this.lastRetain && this.lastEncoded !== undefined) {
      return this.lastEncoded
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const topicLength = Buffer.byteLength(packet.topic)
    const remaining = 2 + topicLength + payload.length
    const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining)
    buf[0] = retain ? 0x31 : 0x30 // PUBLISH, DUP 0, QoS 0 [MQTT-3.3.1-2]
    let at = writeVarint(buf, 1, remaining)
    buf.writeUInt16BE(topicLength, at)
    at += 2
    at += buf.write(packet.topic, at, 'utf8')
    payload.copy(buf, at)
    this.lastCounter = packet.brokerCounter ?? -1
    this.lastBrokerId = packet.brokerId
    this.lastRetain = retain
    this.lastEncoded = buf
    return buf
  }

  corkedForTick (out: Outbound): void {
    this.corked.push(out)
    if (!this.uncorkScheduled) {
      this.uncorkScheduled = true
      process.nextTick(this.uncorkAll)
    }
  }

  /**
   * aedes writes QoS 1/2 messages in a `setImmediate` queued when they were handed over; one queued after them
   * finds them in the socket buffer, so what was handed over stops counting apart.
   */
  handedThisTick (out: Outbound): void {
    if (this.handed.length === 0) setImmediate(this.clearHanded)
    this.handed.push(out)
  }

  watch (out: Outbound): void {
    out.watched = true
    this.watched.add(out)
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(this.sweep, Math.max(10, Math.floor(this.limits.slowMs / 4)))
      this.sweepTimer.unref()
    }
  }

  unwatch (out: Outbound): void {
    out.watched = false
    this.watched.delete(out)
    if (this.watched.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
    }
  }

  close (): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    for (const out of this.watched) out.releaseHeld()
    this.watched.clear()
  }

  private flush (): void {
    this.uncorkScheduled = false
    const corked = this.corked
    for (let i = 0; i < corked.length; i++) {
      const out = corked[i] as Outbound
      out.corked = false
      if (!out.client.conn.destroyed) out.client.conn.uncork()
    }
    corked.length = 0
  }

  private forgetHanded (): void {
    const handed = this.handed
    for (let i = 0; i < handed.length; i++) (handed[i] as Outbound).handed = 0
    handed.length = 0
  }

  private sweepLagging (): void {
    const cutoff = Date.now() - this.limits.slowMs
    for (const out of this.watched) {
      if (out.congestedSince === 0) {
        if (out.client.conn.writableNeedDrain) out.congested()
        else this.unwatch(out)
      } else if (out.congestedSince <= cutoff) {
        out.markLagging()
      }
    }
  }
}
