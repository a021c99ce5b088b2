/**
 * Two connected Duplex streams: what one side writes, the other reads. The in-process transport hands one end to
 * aedes (`aedes.handle(server)`) and the other to an MQTT.js client, so real MQTT packets are encoded, parsed and
 * routed exactly as over TCP, without a socket per device. (Node 22 has `stream.duplexPair`; Node 20 does not.)
 *
 * Backpressure: a write whose chunk fills the peer's read buffer is held (its callback kept) until the peer reads.
 * The held write is released on the next tick, never inside the peer's `_read`: `_read` runs inside the reader's
 * `read()` call, and releasing there lets the writer's next chunk be pushed into the buffer that very `read()` is
 * returning. aedes calls `read()` again from inside a packet handler that finished synchronously (a QoS 0 PUBLISH),
 * while its parser is still in the middle of the previous chunk; bytes arriving right then re-entered the parser and
 * corrupted its framing, so after a few hundred back-to-back publishes the broker read garbage and dropped the
 * connection. A socket never delivers bytes synchronously inside `read()`; neither does this pair.
 */
import { Duplex } from 'node:stream'

class Side extends Duplex {
  peer: Side | undefined
  private pendingCallback: (() => void) | undefined

  override _read (): void {
    const peer = this.peer
    const cb = peer?.pendingCallback
    if (cb === undefined || peer === undefined) return
    peer.pendingCallback = undefined
    process.nextTick(cb)
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const peer = this.peer
    if (peer === undefined || peer.destroyed) { callback(new Error('in-process peer is closed')); return }
    // Honour backpressure: when the peer's read buffer is full, hold the callback until it reads.
    if (peer.push(chunk)) callback()
    else this.pendingCallback = callback
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.peer?.push(null)
    callback()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    const cb = this.pendingCallback
    this.pendingCallback = undefined
    if (cb !== undefined) cb()
    if (peer !== undefined && !peer.destroyed) {
      peer.peer = undefined
      peer.push(null)
      peer.destroy()
    }
    callback(err)
  }
}

export function duplexPair (): [Duplex, Duplex] {
  const a = new Side()
  const b = new Side()
  a.peer = b
  b.peer = a
  return [a, b]
}
