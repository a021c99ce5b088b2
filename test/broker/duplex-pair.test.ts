import { describe, expect, it } from 'vitest'
import { duplexPair } from '../../broker/duplex-pair.ts'

describe('duplexPair (the in-process transport)', () => {
  it('honours backpressure: a writer whose peer does not read is held, and released when the peer reads', async () => {
    const [a, b] = duplexPair()
    const chunk = Buffer.alloc(20 * 1024, 1) // above the default 16 KiB high-water mark of both sides
    let firstDone = false
    a.write(chunk, () => { firstDone = true })
    // The peer has not read: the first write's callback waits, and the writer is told to stop.
    const more = a.write(chunk)
    await new Promise((resolve) => setImmediate(resolve))
    expect(firstDone).toBe(false)
    expect(more).toBe(false)
    expect(a.writableNeedDrain).toBe(true)
    // Reading on the other side lets the writer go on: its callback runs and it drains.
    const drained = new Promise<void>((resolve) => a.once('drain', resolve))
    let read = 0
    b.on('data', (d: Buffer) => { read += d.length })
    await drained
    expect(firstDone).toBe(true)
    expect(read).toBeGreaterThanOrEqual(chunk.length)
    a.destroy()
    b.destroy()
  })

  it('never delivers a held write inside the reader\'s read() call (aedes re-enters read() from a packet handler)', async () => {
    const [a, b] = duplexPair()
    const chunk = Buffer.alloc(20 * 1024, 1)
    a.write(chunk)
    a.write(Buffer.alloc(100, 2)) // held behind the first: the peer's buffer is full
    await new Promise((resolve) => setImmediate(resolve))
    // read() returns what was there when it was called; the held write arrives on a later tick, as from a socket.
    const first = b.read() as Buffer
    expect(first.length).toBe(chunk.length)
    expect(b.readableLength).toBe(0)
    const second = await new Promise<Buffer>((resolve) => b.once('readable', () => { resolve(b.read() as Buffer) }))
    expect(second).toEqual(Buffer.alloc(100, 2))
    a.destroy()
    b.destroy()
  })

  it('passes bytes both ways and ends the peer when one side ends', async () => {
    const [a, b] = duplexPair()
    const got: string[] = []
    b.on('data', (d: Buffer) => { got.push(d.toString()) })
    const ended = new Promise<void>((resolve) => b.once('end', resolve))
    a.end('hello')
    await ended
    expect(got.join('')).toBe('hello')
    b.destroy()
  })
})
