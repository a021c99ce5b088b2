/**
 * Many byte-stream connections over one message channel between two threads: the transport of the broker thread
 * (see thread.ts). Each side of a connection is a Duplex, as a socket is, so MQTT.js and aedes use it unchanged.
 *
 * Everything written on one side in one turn of the event loop, by every connection, travels as one batch: a single
 * buffer of frames, transferred (not copied) to the other thread. A frame is a type byte, the connection number
 * (u32) and a length (u32), then that many bytes for DATA.
 *
 * Flow control, per connection and per direction: a side may have at most {@link WINDOW_BYTES} sent and not yet
 * acknowledged. Past that its writes are held (`write()` returns false, `drain` comes later), exactly as a socket
 * whose peer does not read: the device's backpressure check and the broker's delivery path see it as they see a full
 * socket. The receiver acknowledges bytes once its reader has taken them: at once when its read buffer had room,
 * else when the reader next asks for more (`_read`). Memory per connection is thereby bounded by the window plus
 * the reader's high-water mark on each side, however far one thread falls behind the other.
 *
 * Bytes are delivered from the channel's `message` event, never inside a reader's `read()` call: aedes calls
 * `read()` from inside a packet handler, and bytes pushed right then would re-enter its parser mid-chunk.
 */
import { Duplex } from 'node:stream'

/** Unacknowledged bytes a connection side may have in flight before its writes are held. */
export const WINDOW_BYTES = 64 * 1024

const OPEN = 1
const DATA = 2
const END = 3
const DESTROY = 4
const ACK = 5
const HEADER = 9

/** What the mux needs of a MessagePort (or of a Worker, or of `parentPort`). */
export interface Channel {
  postMessage (value: unknown, transfer?: readonly ArrayBuffer[]): void
  on (event: 'message', listener: (value: unknown) => void): unknown
  off (event: 'message', listener: (value: unknown) => void): unknown
}

/** A batch of frames on the channel; other messages on the same channel are left to their own listeners. */
interface Batch { mux: ArrayBuffer }

function isBatch (m: unknown): m is Batch {
  return typeof m === 'object' && m !== null && (m as Batch).mux instanceof ArrayBuffer
}

export class MuxStream extends Duplex {
  readonly id: number
  private readonly mux: ThreadMux
  /** Bytes sent and not yet acknowledged by the other side. */
  private unacked = 0
  /** A write held until the other side acknowledges enough. */
  private held: ((err?: Error | null) => void) | undefined = undefined
  /** Bytes received and pushed to our reader, not yet acknowledged to the other side. */
  private unread = 0
  /** The other side is gone (it destroyed its end, or the channel closed). */
  remoteGone = false

  constructor (mux: ThreadMux, id: number) {
    super({ allowHalfOpen: true })
    this.mux = mux
    this.id = id
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.remoteGone) { callback(new Error('the other side of the thread connection is closed')); return }
    this.mux.frame(DATA, this.id, chunk)
    this.unacked += chunk.length
    if (this.unacked <= WINDOW_BYTES) callback()
    else this.held = callback
  }

  /** The pieces written in one corked turn (mqtt-packet writes a packet in several) as one frame. */
  override _writev (chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    if (this.remoteGone) { callback(new Error('the other side of the thread connection is closed')); return }
    this.unacked += this.mux.frameData(this.id, chunks)
    if (this.unacked <= WINDOW_BYTES) callback()
    else this.held = callback
  }

  override _read (): void {
    if (this.unread > 0) {
      this.mux.ack(this.id, this.unread)
      this.unread = 0
    }
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (!this.remoteGone) this.mux.frame(END, this.id, undefined)
    callback()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.remoteGone) {
      this.remoteGone = true
      this.mux.frame(DESTROY, this.id, undefined)
    }
    this.mux.forget(this.id)
    this.releaseHeld()
    callback(err)
  }

  /** @internal bytes from the other side. */
  receive (bytes: Buffer): void {
    if (this.destroyed) return
    this.unread += bytes.length
    if (this.push(bytes)) {
      // The reader's buffer has room: acknowledge now, the window reopens for the sender.
      this.mux.ack(this.id, this.unread)
      this.unread = 0
    }
  }

  /** @internal the other side acknowledged bytes. */
  acknowledged (n: number): void {
    this.unacked -= n
    if (this.unacked <= WINDOW_BYTES) this.releaseHeld()
  }

  /** @internal the other side ended its writing. */
  remoteEnded (): void { if (!this.destroyed) this.push(null) }

  /** @internal the other side destroyed its end (or the channel is gone). */
  remoteDestroyed (): void {
    this.remoteGone = true
    if (this.destroyed) return
    this.push(null)
    this.destroy()
  }

  private releaseHeld (): void {
    const cb = this.held
    this.held = undefined
    if (cb !== undefined) cb()
  }
}

/** One end of the multiplexed channel. */
export class ThreadMux {
  private readonly channel: Channel
  private readonly streams = new Map<number, MuxStream>()
  private readonly onOpen: ((stream: MuxStream) => void) | undefined
  /** Frames of this turn, written into one staging buffer (grown as needed) and copied out when flushed. */
  private staging = Buffer.allocUnsafeSlow(64 * 1024)
  private size = 0
  private flushScheduled = false
  private nextId: number
  private closed = false
  /** Counters for stats: batches and bytes each way. */
  readonly counters = { batchesOut: 0, bytesOut: 0, batchesIn: 0, bytesIn: 0 }
  private readonly listener = (m: unknown): void => { if (isBatch(m)) this.receive(Buffer.from(m.mux)) }
  private readonly flush = (): void => { this.flushNow() }

  /**
   * @param side which end: connections opened by side 0 get even numbers, by side 1 odd ones, so both may open.
   * @param onOpen called with the local end of each connection the other side opens.
   */
  constructor (channel: Channel, side: 0 | 1, onOpen?: (stream: MuxStream) => void) {
    this.channel = channel
    this.nextId = side
    this.onOpen = onOpen
    channel.on('message', this.listener)
  }

  /** Connections open now. */
  get connections (): number { return this.streams.size }

  /** Open a connection: the returned stream is this side's end; the other side's `onOpen` gets its end. */
  open (): MuxStream {
    if (this.closed) throw new Error('the thread channel is closed')
    const id = this.nextId
    this.nextId += 2
    if (this.nextId > 0xfffffffe) this.nextId -= 0xfffffffe
    const s = new MuxStream(this, id)
    this.streams.set(id, s)
    this.frame(OPEN, id, undefined)
    return s
  }

  /** Stop using the channel: every connection ends as if the other side had gone. */
  close (): void {
    if (this.closed) return
    this.flushNow()
    this.closed = true
    this.channel.off('message', this.listener)
    for (const s of [...this.streams.values()]) s.remoteDestroyed()
    this.streams.clear()
  }

  /** @internal */
  forget (id: number): void { this.streams.delete(id) }

  /** @internal */
  ack (id: number, n: number): void { this.frame(ACK, id, undefined, n) }

  /** @internal queue a frame for this turn's batch. */
  frame (type: number, id: number, payload: Buffer | undefined, value = 0): void {
    if (this.closed) return
    const len = payload === undefined ? 0 : payload.length
    const at = this.reserve(len)
    const b = this.staging
    b[at] = type
    b.writeUInt32LE(id, at + 1)
    b.writeUInt32LE(payload === undefined ? value : len, at + 5)
    if (payload !== undefined && len > 0) payload.copy(b, at + HEADER)
  }

  /** @internal one DATA frame of several chunks; returns its length. */
  frameData (id: number, chunks: ReadonlyArray<{ chunk: Buffer }>): number {
    if (this.closed) return 0
    let len = 0
    for (const c of chunks) len += c.chunk.length
    const at = this.reserve(len)
    const b = this.staging
    b[at] = DATA
    b.writeUInt32LE(id, at + 1)
    b.writeUInt32LE(len, at + 5)
    let p = at + HEADER
    for (const c of chunks) { c.chunk.copy(b, p); p += c.chunk.length }
    return len
  }

  /** Room for a frame with `len` payload bytes in this turn's batch; returns where it starts. */
  private reserve (len: number): number {
    if (this.size + HEADER + len > this.staging.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.staging.length * 2, this.size + HEADER + len))
      this.staging.copy(bigger, 0, 0, this.size)
      this.staging = bigger
    }
    const at = this.size
    this.size += HEADER + len
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
    return at
  }

  private flushNow (): void {
    this.flushScheduled = false
    if (this.size === 0 || this.closed) return
    // A buffer of its own (not from Node's shared pool), so its memory can be transferred to the other thread.
    const out = Buffer.allocUnsafeSlow(this.size)
    this.staging.copy(out, 0, 0, this.size)
    // A staging buffer grown by a burst goes back to its usual size, so one burst does not hold memory for good.
    if (this.staging.length > 1024 * 1024) this.staging = Buffer.allocUnsafeSlow(64 * 1024)
    this.counters.batchesOut++
    this.counters.bytesOut += this.size
    this.size = 0
    const ab = out.buffer
    this.channel.postMessage({ mux: ab }, [ab])
  }

  private receive (buf: Buffer): void {
    this.counters.batchesIn++
    this.counters.bytesIn += buf.length
    let at = 0
    while (at + HEADER <= buf.length) {
      const type = buf[at] as number
      const id = buf.readUInt32LE(at + 1)
      const n = buf.readUInt32LE(at + 5)
      at += HEADER
      switch (type) {
        case DATA: {
          // A copy of its own: a reader may keep a payload (aedes keeps retained messages), and a view would keep
          // the whole batch alive with it.
          const bytes = Buffer.from(buf.subarray(at, at + n))
          at += n
          this.streams.get(id)?.receive(bytes)
          break
        }
        case OPEN: {
          if (this.onOpen === undefined || this.streams.has(id)) { this.frame(DESTROY, id, undefined); break }
          const s = new MuxStream(this, id)
          this.streams.set(id, s)
          this.onOpen(s)
          break
        }
        case ACK: this.streams.get(id)?.acknowledged(n); break
        case END: this.streams.get(id)?.remoteEnded(); break
        case DESTROY: {
          const s = this.streams.get(id)
          this.streams.delete(id)
          s?.remoteDestroyed()
          break
        }
      }
    }
  }
}
