import { createBroker } from '../broker/index.ts'
import { Speaker } from '../devices/speaker.ts'
import { createTopics } from '../core/topics.ts'
import { systemClock } from '../core/clock.ts'
import { Random } from '../core/random.ts'
import { silentLogger } from '../core/logger.ts'
const N = Number(process.argv[2] ?? 1000)
const broker = await createBroker({ tcp: false })
const rt = { target: { stream: () => broker.connectInProcess() }, topics: createTopics(), clock: systemClock, random: new Random(1), logger: silentLogger }
const t0 = performance.now()
const devs = []
for (let i = 0; i < N; i++) devs.push(new Speaker({ id: `s${i}`, kind: 'speaker', model: 'm', room: 'r', name: 'n', firmware: '1', home: 'h', telemetryIntervalMs: 10000 }, rt))
const B = 200
for (let i = 0; i < N; i += B) await Promise.all(devs.slice(i, i + B).map(d => d.start()))
const t1 = performance.now()
await new Promise(r => setTimeout(r, 3000))
console.log({ N, ms: Math.round(t1 - t0), rss: Math.round(process.memoryUsage().rss / 1e6), heap: Math.round(process.memoryUsage().heapUsed / 1e6), clients: broker.stats().clients })
const t2 = performance.now()
await Promise.all(devs.map(d => d.stop()))
await broker.close()
console.log('stop ms', Math.round(performance.now() - t2))
