/**
 * A broker in a process of its own, for the benchmarks (so its memory can be read from /proc and the generator's
 * CPU is not its own): `node --import tsx bench/broker-process.ts aedes|homefleet` listens on 127.0.0.1, a free port,
 * and prints `port <N>` on stdout. `aedes` is plain aedes with its defaults; `homefleet` is createBroker().
 *
 * It answers one command on stdin, for the memory figures: a line `memory` is answered with a line
 * `memory {"heapUsed":…,"heapTotal":…,"external":…,"arrayBuffers":…,"rss":…}` (bytes), taken after a full garbage
 * collection when the process runs with `--expose-gc`.
 */
import { createServer, type AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { Aedes } from 'aedes'
import { createBroker } from '../broker/index.ts'

const kind = process.argv[2]
if (kind === 'aedes') {
  const aedes = await Aedes.createBroker({})
  const server = createServer(aedes.handle)
  server.listen(0, '127.0.0.1', () => { process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`) })
} else if (kind === 'homefleet') {
  const broker = await createBroker({ port: 0 })
  process.stdout.write(`port ${broker.port}\n`)
} else {
  process.stderr.write('usage: broker-process.ts aedes|homefleet\n')
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
