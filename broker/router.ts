/**
 * The broker's message router: what aedes calls its `mq` (an mqemitter-compatible emitter, pluggable by option).
 *
 * aedes' default, mqemitter 7, has two faults under load that this replaces:
 * - its backlog is an array consumed with `shift()`, so each message costs O(backlog) once delivery falls behind, and
 *   a slow router gets slower the more it falls behind (throughput collapsed to a fifth of peak under 3× overload);
 * - when a queued message has no subscriber, its completion runs synchronously inside the release of the previous
 *   one (`released → _do → fastparallel → released …`), one stack frame group per queued message, so a backlog of a few
 *   thousand unmatched messages ends in `RangeError: Maximum call stack size exceeded` and kills the process.
 *
 * Here the backlog is a ring buffer (O(1) per message whatever its length), and it is drained by one loop that
 * re-entrant completions never nest into: a completion that happens while the loop runs only marks the slot free.
 * Per message there is one pooled {@link Delivery} whose completion function is bound once, when the pool grows, so
 * routing allocates no closure per message.
 */
import { SubscriptionTrie } from './subscription-trie.ts'

/** What aedes passes to `emit`: at least a topic. */
export interface RoutedPacket { topic: string }

export type RouteListener<P extends RoutedPacket = RoutedPacket> = (packet: P, done: () => void) => void
type Callback = (err?: Error | null) => void

/** Counters of the router, for the broker's stats. */
export interface RouterStats {
  /** Messages handed to the router since start. */
  routed: number
  /** Deliveries to subscriptions started since start (one message to three subscribers counts three). */
  deliveries: number
  /** Messages whose delivery has started and not yet completed. */
  inFlight: number
  /** Messages waiting for a delivery slot now. */
  backlog: number
  /** The largest backlog seen since start. */
  backlogPeak: number
  /** Subscriptions registered now. */
  subscriptions: number
}

function noop (): void {}

/** One message on its way to its subscribers; pooled, so its `done` is bound once and reused. */
class Delivery {
  packet: RoutedPacket | undefined = undefined
  callback: Callback = noop
  pending = 0
  readonly done: () => void

  constructor (private readonly router: MessageRouter) {
    this.done = this.complete.bind(this)
  }

  private complete (): void {
    if (--this.pending > 0) return
    const cb = this.callback
    this.packet = undefined
    this.callback = noop
    this.router.release(this)
    cb()
  }
}

/** A growable ring buffer of (packet, callback) pairs: push and shift are O(1). */
class Backlog {
  private packets: Array<RoutedPacket | undefined> = new Array<RoutedPacket | undefined>(1024)
  private callbacks: Array<Callback | undefined> = new Array<Callback | undefined>(1024)
  private head = 0
  length = 0

  push (packet: RoutedPacket, cb: Callback): void {
    if (this.length === this.packets.length) this.grow()
    const at = (this.head + this.length) & (this.packets.length - 1)
    this.packets[at] = packet
    this.callbacks[at] = cb
    this.length++
  }

  /** The oldest pair; call only when `length > 0`. Its slots are cleared so the packet can be collected. */
  shiftInto (into: { packet: RoutedPacket | undefined; cb: Callback }): void {
    const at = this.head
    into.packet = this.packets[at]
    into.cb = this.callbacks[at] ?? noop
    this.packets[at] = undefined
    this.callbacks[at] = undefined
    this.head = (at + 1) & (this.packets.length - 1)
    this.length--
  }

  private grow (): void {
    const size = this.packets.length
    const packets = new Array<RoutedPacket | undefined>(size * 2)
    const callbacks = new Array<Callback | undefined>(size * 2)
    for (let i = 0; i < this.length; i++) {
      packets[i] = this.packets[(this.head + i) & (size - 1)]
      callbacks[i] = this.callbacks[(this.head + i) & (size - 1)]
    }
    this.packets = packets
    this.callbacks = callbacks
    this.head = 0
  }
}

export interface RouterOptions {
  /** Messages in delivery at once; more wait in the backlog, in arrival order. */
  concurrency: number
}

export class MessageRouter {
  readonly concurrency: number
  closed = false
  /** Messages in delivery now (mqemitter's name, which aedes' users know). */
  current = 0

  private readonly trie = new SubscriptionTrie<RouteListener>()
  private readonly backlog = new Backlog()
  private readonly pool: Delivery[] = []
  private readonly next: { packet: RoutedPacket | undefined; cb: Callback } = { packet: undefined, cb: noop }
  private draining = false
  private routed = 0
  private deliveries = 0
  private backlogPeak = 0

  constructor (options: RouterOptions) {
    this.concurrency = options.concurrency
  }

  /** Messages waiting in the backlog (mqemitter's `length`). */
  get length (): number { return this.backlog.length }

  /** Incremented whenever a subscription is added or removed, so a caller can cache what {@link listenersOf} said. */
  revision = 0

  on (filter: string, listener: RouteListener, done?: () => void): this {
    this.revision++
    this.trie.add(filter, listener)
    if (done !== undefined) setImmediate(done)
    return this
  }

  removeListener (filter: string, listener: RouteListener, done?: () => void): this {
    this.revision++
    this.trie.remove(filter, listener)
    if (done !== undefined) setImmediate(done)
    return this
  }

  /**
   * Route one message to every matching subscription; `cb` runs once all of them have called their `done`.
   * Messages are started in arrival order: once anything waits in the backlog, later messages wait behind it, so
   * one publisher's messages keep their order [MQTT-4.6.0-5].
   */
  emit (packet: RoutedPacket, cb: Callback = noop): this {
    if (this.closed) { cb(new Error('the message router is closed')); return this }
    this.routed++
    if (this.current >= this.concurrency || this.backlog.length > 0) {
      this.backlog.push(packet, cb)
      if (this.backlog.length > this.backlogPeak) this.backlogPeak = this.backlog.length
      if (!this.draining && this.current < this.concurrency) this.drain()
      return this
    }
    this.start(packet, cb)
    return this
  }

  /** The listeners a message on `topic` would reach now (a new array). */
  listenersOf (topic: string): RouteListener[] {
    return this.trie.match(topic)
  }

  close (cb: () => void): this {
    this.closed = true
    setImmediate(cb)
    return this
  }

  stats (): RouterStats {
    return {
      routed: this.routed,
      deliveries: this.deliveries,
      inFlight: this.current,
      backlog: this.backlog.length,
      backlogPeak: this.backlogPeak,
      subscriptions: this.trie.size
    }
  }

  /** Called by a {@link Delivery} when its last subscriber is done: free the slot, then start waiting messages. */
  release (delivery: Delivery): void {
    this.current--
    this.pool.push(delivery)
    // Inside the drain loop the loop itself picks up the freed slot: no recursion, whatever the backlog.
    if (!this.draining && this.backlog.length > 0) this.drain()
  }

  private drain (): void {
    this.draining = true
    try {
      const next = this.next
      while (this.backlog.length > 0 && this.current < this.concurrency && !this.closed) {
        this.backlog.shiftInto(next)
        const packet = next.packet as RoutedPacket
        const cb = next.cb
        next.packet = undefined
        next.cb = noop
        this.start(packet, cb)
      }
    } finally {
      this.draining = false
    }
  }

  private start (packet: RoutedPacket, cb: Callback): void {
    const listeners = this.trie.match(packet.topic)
    const delivery = this.pool.pop() ?? new Delivery(this)
    delivery.packet = packet
    delivery.callback = cb
    // One extra count held while the listeners are called, so a listener finishing synchronously cannot complete
    // the delivery before the others have been started.
    delivery.pending = listeners.length + 1
    this.current++
    this.deliveries += listeners.length
    for (let i = 0; i < listeners.length; i++) (listeners[i] as RouteListener)(packet, delivery.done)
    delivery.done()
  }
}
