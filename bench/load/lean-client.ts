/**
 * A lean MQTT 3.1.1 client for load generation: one socket with TCP_NODELAY, packets encoded straight into buffers,
 * and an incremental parser that understands only what a load generator receives (CONNACK, SUBACK, PUBLISH, PUBACK,
 * PINGRESP). MQTT.js costs about 1.7× the CPU for the same load; a generator must not be the bottleneck it measures.
 * Keep-alive is 0 (no PINGREQ): runs are bounded in time, and the broker then never times the client out [MQTT-3.1.2-23].
 */
import { connect as netConnect, type Socket } from 'node:net'

export interface LeanHandlers {
  connack (returnCode: number): void
  suback (granted: number[]): void
  publish (topic: string, payload: Buffer, qos: number): void
  puback (messageId: number): void
  /** PINGRESP: the broker answered a {@link LeanClient.ping}. */
  pingresp?: () => void
  error (reason: string): void
  close (): void
}

function remainingLengthBytes (n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

function writeHeader (buf: Buffer, first: number, remaining: number): number {
  buf[0] = first
  let at = 1
  let v = remaining
  do {
    let b = v % 128
    v = Math.floor(v / 128)
    if (v > 0) b |= 0x80
    buf[at++] = b
  } while (v > 0)
  return at
}

function writeString (buf: Buffer, at: number, s: string): number {
  const n = buf.write(s, at + 2, 'utf8')
  buf.writeUInt16BE(n, at)
  return at + 2 + n
}

/** CONNECT [MQTT-3.1]: clean session, keep-alive 0, optional username and password. */
export function encodeConnect (clientId: string, username?: string, password?: string): Buffer {
  let flags = 0x02
  let remaining = 10 + 2 + Buffer.byteLength(clientId)
  if (username !== undefined) { flags |= 0x80; remaining += 2 + Buffer.byteLength(username) }
  if (password !== undefined) { flags |= 0x40; remaining += 2 + Buffer.byteLength(password) }
  const buf = Buffer.allocUnsafe(1 + remainingLengthBytes(remaining) + remaining)
  let at = writeHeader(buf, 0x10, remaining)
  at = writeString(buf, at, 'MQTT')
  buf[at++] = 4 // protocol level 3.1.1
  buf[at++] = flags
  buf.writeUInt16BE(0, at); at += 2
  at = writeString(buf, at, clientId)
  if (username !== undefined) at = writeString(buf, at, username)
  if (password !== undefined) writeString(buf, at, password)
  return buf
}

export function encodeSubscribe (messageId: number, filter: string, qos: number): Buffer {
  const remaining = 2 + 2 + Buffer.byteLength(filter) + 1
  const buf = Buffer.allocUnsafe(1 + remainingLengthBytes(remaining) + remaining)
  let at = writeHeader(buf, 0x82, remaining) // [MQTT-3.8.1-1]: reserved bits 0010
  buf.writeUInt16BE(messageId, at); at += 2
  at = writeString(buf, at, filter)
  buf[at] = qos
  return buf
}

/** PUBLISH [MQTT-3.3]; `messageId` only for QoS 1. The payload is copied in, so the caller may reuse it. */
export function encodePublish (topic: string, payload: Buffer, qos: number, messageId: number): Buffer {
  const topicBytes = Buffer.byteLength(topic)
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.length
  const buf = Buffer.allocUnsafe(1 + remainingLengthBytes(remaining) + remaining)
  let at = writeHeader(buf, 0x30 | (qos << 1), remaining)
  at = writeString(buf, at, topic)
  if (qos > 0) { buf.writeUInt16BE(messageId, at); at += 2 }
  payload.copy(buf, at)
  return buf
}

const PUBACK = Buffer.from([0x40, 0x02, 0, 0])
const PINGREQ = Buffer.from([0xc0, 0x00])
const DISCONNECT = Buffer.from([0xe0, 0x00])

export class LeanClient {
  readonly socket: Socket
  private pending: Buffer | undefined = undefined

  constructor (host: string, port: number, private readonly handlers: LeanHandlers) {
    this.socket = netConnect({ host, port, noDelay: true })
    this.socket.on('data', (chunk: Buffer) => { this.onData(chunk) })
    this.socket.on('error', (err: NodeJS.ErrnoException) => { handlers.error(err.code ?? err.message) })
    this.socket.on('close', () => { handlers.close() })
  }

  write (buf: Buffer): boolean {
    return this.socket.write(buf)
  }

  /** PINGREQ [MQTT-3.12]: the broker answers PINGRESP on a connection it holds. */
  ping (): boolean {
    return this.socket.write(PINGREQ)
  }

  disconnect (): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.end(DISCONNECT)
    this.socket.destroySoon()
  }

  destroy (): void {
    this.socket.destroy()
  }

  private onData (chunk: Buffer): void {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let at = 0
    while (at < buf.length) {
      // Fixed header: type byte, then the remaining length (1–4 bytes) [MQTT-2.2.3].
      let mult = 1
      let remaining = 0
      let i = at + 1
      let complete = false
      for (; i < buf.length && i < at + 5; i++) {
        const b = buf[i] as number
        remaining += (b & 0x7f) * mult
        mult *= 128
        if ((b & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete || i + remaining > buf.length) break
      this.dispatch(buf, buf[at] as number, i, i + remaining)
      at = i + remaining
    }
    if (at < buf.length) {
      buf = buf.subarray(at)
      this.pending = Buffer.from(buf)
    }
  }

  private dispatch (buf: Buffer, first: number, start: number, end: number): void {
    switch (first >> 4) {
      case 2: this.handlers.connack(buf[start + 1] as number); break
      case 9: {
        const granted: number[] = []
        for (let i = start + 2; i < end; i++) granted.push(buf[i] as number)
        this.handlers.suback(granted)
        break
      }
      case 3: {
        const qos = (first >> 1) & 3
        const topicLength = buf.readUInt16BE(start)
        const topic = buf.toString('utf8', start + 2, start + 2 + topicLength)
        let at = start + 2 + topicLength
        if (qos > 0) {
          const id = buf.readUInt16BE(at)
          at += 2
          const ack = Buffer.from(PUBACK)
          ack.writeUInt16BE(id, 2)
          this.socket.write(ack)
        }
        this.handlers.publish(topic, buf.subarray(at, end), qos)
        break
      }
      case 4: this.handlers.puback(buf.readUInt16BE(start)); break
      case 13: this.handlers.pingresp?.(); break
      default: this.handlers.error(`unexpected packet type ${first >> 4}`)
    }
  }
}
