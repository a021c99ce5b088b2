import { describe, expect, it } from 'vitest'
import mqttPacket from 'mqtt-packet'
import { ByteQueue } from '../../broker/byte-queue.ts'

/** Parse `stream` fed in the given chunks, with the parser's input list replaced by a ByteQueue or left as it is. */
function parse (chunks: Buffer[], lean: boolean): unknown[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  if (lean) (parser as unknown as { _list: unknown })._list = new ByteQueue()
  const out: unknown[] = []
  parser.on('packet', (p) => { out.push({ ...p }) })
  parser.on('error', (err) => { out.push({ error: err.message }) })
  for (const c of chunks) parser.parse(c)
  return out
}

const packets = [
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-1', keepalive: 60, username: 'u', password: Buffer.from('p'), will: { topic: 'home/1/status', payload: Buffer.from('offline'), qos: 1, retain: true } },
  { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'home/+/cmd/#', qos: 1 }, { topic: 'a/b', qos: 0 }] },
  { cmd: 'publish', topic: 'home/1/telemetry', payload: Buffer.from(JSON.stringify({ seq: 1, temp: 21.5 })), qos: 0, retain: false, dup: false },
  { cmd: 'publish', topic: 'héllo/wörld', payload: Buffer.alloc(300, 7), qos: 1, messageId: 65535, retain: true, dup: false },
  { cmd: 'puback', messageId: 3 },
  { cmd: 'pingreq' },
  { cmd: 'publish', topic: 't', payload: Buffer.alloc(2_000, 1), qos: 2, messageId: 9, retain: false, dup: true },
  { cmd: 'unsubscribe', messageId: 8, unsubscriptions: ['a/b'] },
  { cmd: 'disconnect' }
] as const
const stream = Buffer.concat(packets.map((p) => mqttPacket.generate(p as unknown as mqttPacket.Packet)))

describe('ByteQueue, the broker parser\'s input list', () => {
  it('gives mqtt-packet\'s parser the same packets as its own list, however the bytes are split', () => {
    const expected = parse([stream], false)
    expect(expected).toHaveLength(packets.length)
    expect(parse([stream], true)).toEqual(expected)
    // Every split point into two chunks, then chunks of every size from 1 to 9 bytes (headers and lengths cut anywhere).
    for (let at = 0; at <= stream.length; at += at < 400 ? 1 : 41) {
      expect(parse([stream.subarray(0, at), stream.subarray(at)], true), `split at ${at}`).toEqual(expected)
    }
    for (let size = 1; size <= 9; size++) {
      const chunks: Buffer[] = []
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size))
      expect(parse(chunks, true), `chunks of ${size}`).toEqual(expected)
    }
  })

  it('reports a malformed packet as the original list does', () => {
    const bad = Buffer.from([0x32, 0x05, 0x00, 0x09, 0x61]) // PUBLISH whose topic length passes the packet's end
    expect(parse([bad], true)).toEqual(parse([bad], false))
  })

  it('reads, slices and consumes across chunk boundaries', () => {
    const q = new ByteQueue()
    q.append(Buffer.from([1, 2])).append(Buffer.alloc(0)).append(Buffer.from([3, 4, 5])).append(Buffer.from([6]))
    expect(q.length).toBe(6)
    expect(q.readUInt8(2)).toBe(3)
    expect(q.readUInt16BE(1)).toBe(0x0203)
    expect(q.readUInt32BE(1)).toBe(0x02030405)
    expect([...q.slice(1, 5)]).toEqual([2, 3, 4, 5])
    expect([...q.slice(-2)]).toEqual([5, 6])
    expect(q.slice(7, 9).length).toBe(0)
    expect(q.get(5)).toBe(6)
    expect(q.get(6)).toBeUndefined()
    q.consume(3)
    expect(q.length).toBe(3)
    expect(q.readUInt8(0)).toBe(4)
    expect(q.toString('hex')).toBe('040506')
    q.consume(10)
    expect(q.length).toBe(0)
    expect(q.slice().length).toBe(0)
  })
})
