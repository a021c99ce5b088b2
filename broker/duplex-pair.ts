/**
 * Two connected Duplex streams: what one side writes, the other reads. The in-process transport hands one end to
 * aedes (`aedes.handle(server)`) and the other to an MQTT.js client, so real MQTT packets are encoded, parsed and
 * routed exactly as over TCP, without a socket per device. (Node 22 has `stream.duplexPair`; Node 20 does not.)
 */
import { Duplex } from 'node:stream'

class Side extends Duplex {
  peer: Side | undefined
  private pendingCallback: (() => void) | undefined

  override _read (): void {
    const cb = this.peer?.pendingCallback
    if (cb !== undefined && this.peer !== undefined) { this.peer.pendingCallback = undefined; cb() }
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
