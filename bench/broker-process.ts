/**
 * A broker in a process of its own, for the benchmarks (so its memory can be read from /proc and the generator's
 * CPU is not its own): `node --import tsx bench/broker-process.ts aedes|homefleet|node-tcp` listens on 127.0.0.1, a
 * free port, and prints `port <N>` on stdout. `aedes` is plain aedes with its defaults; `homefleet` is createBroker();
 * `node-tcp` is no broker: a bare `net` server, TCP_NODELAY set as HomeFleet's broker sets it, that writes a CONNACK
 * when a connection's first bytes arrive and ignores the rest, the least a Node process can do per connection.
 *
 * It answers one command on stdin, for the memory figures: a line `memory` is answered with a line
 * `memory {"heapUsed":…,"heapTotal":…,"external":…,"arrayBuffers":…,"rss":…}` (bytes), taken after a full garbage
 * collection when the process runs with `--expose-gc`.
 */
import { createServer, type AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { Aedes } from 'aedes'
import { createBroker, listenerNoDelay } from '../broker/index.ts'

const kind = process.argv[2]
if (kind === 'aedes') {
  const aedes = await Aedes.createBroker({})
  const server = createServer(aedes.handle)
  server.listen(0, '127.0.0.1', () => { process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`) })
} else if (kind === 'homefleet') {
  const broker = await createBroker({ port: 0 })
  process.stdout.write(`port ${broker.port}\n`)
} else if (kind === 'node-tcp') {
  const connack = Buffer.from([0x20, 0x02, 0x00, 0x00])
  const server = createServer((socket) => {
    if (!noDelay) socket.setNoDelay(true)
    socket.once('data', () => { socket.write(connack) })
    socket.on('error', () => { socket.destroy() })
  })
  let noDelay = false
  server.listen(0, '127.0.0.1', () => {
    noDelay = listenerNoDelay(server)
    process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`)
  })
} else {
  process.stderr.write('usage: broker-process.ts aedes|homefleet|node-tcp\n')
  process.exit(2)
}

const gc = (globalThis as { gc?: () => void }).gc
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'memory') return
  gc?.()
  const m = process.memoryUsage()
  process.stdout.write(`memory ${JSON.stringify({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss })}\n`)
})

// End cleanly on a signal (so `node --cpu-prof` writes its profile).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { process.exit(0) })
