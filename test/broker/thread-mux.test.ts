import { afterEach, describe, expect, it } from 'vitest'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { ThreadMux, WINDOW_BYTES, type MuxStream } from '../../broker/thread-mux.ts'

/** Wait for an event of an emitter, or fail naming it. */
function once (emitter: NodeJS.EventEmitter, event: string, what: string, timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.off(event, on); reject(new Error(`waited ${timeoutMs} ms for ${what}`)) }, timeoutMs)
    const on = (...args: unknown[]): void => { clearTimeout(timer); resolve(args) }
    emitter.once(event, on)
  })
}

/** Poll `ok` once per event-loop turn until it holds, or fail naming what it waited for. */
async function until (ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Two ends of a real MessageChannel (the same kind of port a worker thread talks over), each with a mux. */
function pair (): { a: ThreadMux; b: ThreadMux; accepted: MuxStream[]; ports: MessagePort[] } {
  const { port1, port2 } = new MessageChannel()
  const accepted: MuxStream[] = []
  const a = new ThreadMux(port1, 0)
  const b = new ThreadMux(port2, 1, (s) => { accepted.push(s) })
  return { a, b, accepted, ports: [port1, port2] }
}

const opened: Array<{ a: ThreadMux; b: ThreadMux; ports: MessagePort[] }> = []
afterEach(() => {
  for (const p of opened.splice(0)) { p.a.close(); p.b.close(); for (const port of p.ports) port.close() }
})

async function connected (): Promise<{ mux: ReturnType<typeof pair>; client: MuxStream; server: MuxStream }> {
  const mux = pair()
  opened.push(mux)
  const client = mux.a.open()
  await until(() => mux.accepted.length > 0, 'the other side to see the connection open')
  return { mux, client, server: mux.accepted[0] as MuxStream }
}

describe('ThreadMux (the broker thread\'s channel)', () => {
  it('carries bytes both ways, in order, many connections over one channel', async () => {
    const mux = pair()
    opened.push(mux)
    const clients = Array.from({ length: 50 }, () => mux.a.open())
    const got = new Map<number, string>()
    const allIn = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`waited 10000 ms for 50 connections' bytes; ${got.size} complete`)) }, 10_000)
      const check = (): void => { if ([...got.values()].filter((v) => v.endsWith('.')).length === 50) { clearTimeout(timer); resolve() } }
      const watch = (): void => {
        for (const s of mux.accepted) {
          if (got.has(s.id)) continue
          got.set(s.id, '')
          s.on('data', (d: Buffer) => { got.set(s.id, (got.get(s.id) ?? '') + d.toString()); check() })
          // Echo back, so both directions carry something.
          s.on('data', (d: Buffer) => { s.write(d) })
        }
        if (got.size < 50) setImmediate(watch)
      }
      watch()
    })
    const echoes = clients.map((c) => {
      let text = ''
      c.on('data', (d: Buffer) => { text += d.toString() })
      return () => text
    })
    for (const [i, c] of clients.entries()) { c.write(`conn ${i} `); c.write('part two'); c.write('.') }
    await allIn
    const texts = [...got.values()].sort()
    expect(texts).toContain('conn 7 part two.')
    // Many writes of one turn travel as few batches, not one message per write.
    expect(mux.a.counters.batchesOut).toBeLessThan(10)
    const until = Date.now() + 10_000
    while (echoes.some((e) => !e().endsWith('.')) && Date.now() < until) await new Promise((resolve) => setImmediate(resolve))
    expect(echoes.map((e) => e())).toEqual(clients.map((_, i) => `conn ${i} part two.`))
  })

  it('holds a writer whose reader does not read: at most the window in flight, released when the reader reads', async () => {
    const { mux, client, server } = await connected()
    server.pause()
    const chunk = Buffer.alloc(8 * 1024, 7)
    let writes = 0
    // Write until told to stop, bounded: without flow control this would go to 1 MiB.
    while (writes < 128 && client.write(chunk)) writes++
    // Once the reader's side has taken in what crossed (and had its turn to acknowledge, which it must not while
    // paused), the writer stopped near the window plus the reader's buffer, not at 1 MiB.
    await until(() => mux.b.counters.batchesIn >= 1 && server.readableLength > 0, 'the first batch to reach the paused reader')
    await new Promise((resolve) => setImmediate(resolve))
    const inFlight = mux.a.counters.bytesOut
    expect(writes).toBeLessThan(128)
    expect(inFlight).toBeLessThanOrEqual(WINDOW_BYTES + 16 * 1024 + 4 * chunk.length + 1024)
    expect(client.writableNeedDrain).toBe(true)
    // Reading releases it.
    const drained = once(client, 'drain', 'the writer to drain once the reader reads')
    let read = 0
    server.on('data', (d: Buffer) => { read += d.length })
    server.resume()
    await drained
    expect(read).toBeGreaterThan(0)
  })

  it('ends the other side when one side ends, and destroys it when one side is destroyed', async () => {
    const { client, server } = await connected()
    server.resume()
    const ended = once(server, 'end', 'the other side to end')
    client.end('bye')
    await ended
    const closed = once(client, 'close', 'the first side to close when the other is destroyed')
    server.destroy()
    await closed
    expect(client.destroyed).toBe(true)
  })

  it('ends every connection when the channel is closed', async () => {
    const { mux, client } = await connected()
    const closed = once(client, 'close', 'a connection to close with its channel')
    mux.b.close()
    mux.a.close()
    await closed
    expect(mux.a.connections).toBe(0)
  })
})
