import { afterEach, describe, expect, it } from 'vitest'
import { createBroker, type BrokerOptions, type EmbeddedBroker } from '../../broker/index.ts'
import { main } from '../../cli/main.ts'
import { parseThresholds, defaultSubTopic } from '../../bench/load/run.ts'
import { LatencyHistogram } from '../../bench/load/histogram.ts'
import type { BenchReport } from '../../bench/load/run.ts'
import { testIo } from './helpers.ts'
import { collectMessages, connectClient } from '../helpers/mqtt.ts'
import { closedPort, subscribedTo } from '../helpers/net.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

async function broker (options: Partial<BrokerOptions> = {}): Promise<EmbeddedBroker & { url: string }> {
  return td.add(await createBroker({ port: 0, ...options }), (b) => b.close()) as EmbeddedBroker & { url: string }
}

async function bench (args: string[]): Promise<{ code: number; report: BenchReport | undefined; err: string; out: string }> {
  const io = testIo()
  const code = await main(['bench', ...args], io)
  const out = io.out.text
  let report: BenchReport | undefined
  if (args.includes('--json') && out.trim() !== '') report = JSON.parse(out) as BenchReport
  return { code, report, err: io.err.text, out }
}

describe('fleet bench', () => {
  it('pubsub on the embedded broker: -L bounds the run, every message arrives once and in order, --json is the report', async () => {
    const r = await bench(['pubsub', '-c', '4', '-L', '400', '--rate', '2000', '--duration', '30s', '--json', '--quiet', '--fail-if', 'loss>0,duplicates>0'])
    expect(r.code).toBe(0)
    expect(r.report).toMatchObject({ mode: 'pubsub', embedded: true, clients: 4, subscribers: 1, sent: 400, received: 400, lost: 0, duplicates: 0, reordered: 0, passed: true })
    expect(r.report!.latencyMs.count).toBe(400)
    expect(r.report!.latencyMs.p50).toBeLessThanOrEqual(r.report!.latencyMs.p99)
    expect(r.report!.latencyMs.p99).toBeLessThanOrEqual(r.report!.latencyMs.max)
    expect(r.report!.thresholds).toEqual([
      { threshold: 'loss>0', actual: 0, failed: false },
      { threshold: 'duplicates>0', actual: 0, failed: false }
    ])
  })

  it('expands %i and %c in topics, from -n, with --prefix in client ids', async () => {
    const b = await broker()
    const watcher = td.client(await connectClient(b.url))
    const topics = new Set<string>()
    watcher.on('message', (t) => topics.add(t))
    await watcher.subscribeAsync('ph/#')
    const r = await bench(['pub', '-b', b.url, '-c', '2', '-n', '5', '--prefix', 'tst', '-t', 'ph/%i/%c', '-L', '20', '--duration', '30s', '--json', '--quiet'])
    expect(r.code).toBe(0)
    expect(r.report!.sent).toBe(20)
    // The watcher's subscription is older than the run's messages; wait for the last ones to be routed to it.
    await b.publish({ topic: 'ph/end', payload: 'x' })
    await new Promise<void>((resolve) => { if (topics.has('ph/end')) resolve(); else watcher.on('message', (t) => { if (t === 'ph/end') resolve() }) })
    expect([...topics].filter((t) => t !== 'ph/end').sort()).toEqual(['ph/5/tst-5', 'ph/6/tst-6'])
  })

  it('-I is an interval per publisher (emqtt-bench): each publisher sends once per interval, however the publishers are split over workers', async () => {
    const b = await broker()
    const watcher = td.client(await connectClient(b.url))
    const arrived: Array<{ topic: string; payload: Buffer }> = []
    watcher.on('message', (topic, payload) => { arrived.push({ topic, payload }) })
    await watcher.subscribeAsync('iv/#')
    // Three publishers on two workers: one worker has two, the other one. A total rate split per worker would make
    // the lone publisher send 1.5 times as often as the interval says.
    const r = await bench(['pub', '-b', b.url, '-c', '3', '-w', '2', '-I', '300ms', '--duration', '1200ms', '-t', 'iv/%i', '--json', '--quiet'])
    expect(r.code).toBe(0)
    const sent = r.report!.sent
    expect(sent).toBeGreaterThan(0)
    // The watcher's own listener (older) fills `arrived`; wait until everything sent is there.
    if (arrived.length < sent) await collectMessages(watcher, (t) => t.startsWith('iv/'), () => arrived.length >= sent, `${sent} messages on iv/#`)
    const sendTimes = new Map<string, number[]>()
    for (const m of arrived) {
      const times = sendTimes.get(m.topic) ?? []
      times.push(m.payload.readDoubleBE(8)) // the send time the publisher wrote into the payload
      sendTimes.set(m.topic, times)
    }
    expect([...sendTimes.keys()].sort()).toEqual(['iv/0', 'iv/1', 'iv/2'])
    for (const [topic, times] of sendTimes) {
      // Never more often than once per interval: at most 1.2 s / 300 ms = 4 intervals, so 5 messages counting the
      // first; and consecutive messages of one publisher at least about an interval apart (timers never fire early;
      // the margin covers the event loop's millisecond clock).
      expect(times.length, topic).toBeLessThanOrEqual(5)
      for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number), `${topic} message ${i}`).toBeGreaterThan(250)
    }
  })

  it('a --fail-if condition that holds exits 1 and says which; text output names it', async () => {
    const r = await bench(['pubsub', '-c', '1', '-L', '50', '--duration', '30s', '--quiet', '--fail-if', 'received>0,loss>0'])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/^FAILED +received>0 \(actual 50\)$/m)
    expect(r.out).toMatch(/^ok +loss>0 \(actual 0\)$/m)
  })

  it('conn mode holds the connections; -u/-P reach the broker, and a refusal is counted by reason', async () => {
    const b = await broker({ authenticate: (_c, username, password) => username === 'bench' && password?.toString() === 'secret' })
    const ok = await bench(['conn', '-b', b.url, '-c', '20', '-u', 'bench', '-P', 'secret', '--duration', '300ms', '--json', '--quiet', '--fail-if', 'connected<20'])
    expect(ok.code).toBe(0)
    expect(ok.report).toMatchObject({ mode: 'conn', connected: 20, connectFailures: 0, errors: {} })
    expect(ok.report!.connectLatencyMs.count).toBe(20)
    const refused = await bench(['conn', '-b', b.url, '-c', '3', '-u', 'bench', '-P', 'wrong', '--duration', '300ms', '--json', '--quiet'])
    expect(refused.report).toMatchObject({ connected: 0, connectFailures: 3, errors: { 'connack 5': 3 } })
  })

  it('--connect-concurrency bounds the connects in progress: the broker never has more CONNECTs awaiting their CONNACK', async () => {
    let pending = 0
    let most = 0
    const b = await broker({
      // Each CONNECT waits 20 ms for its answer, so unbounded connects pile up here.
      authenticate: async () => {
        most = Math.max(most, ++pending)
        await new Promise((resolve) => { setTimeout(resolve, 20) })
        pending--
        return true
      }
    })
    const r = await bench(['conn', '-b', b.url, '-c', '30', '-w', '2', '-R', '0', '--connect-concurrency', '4', '--duration', '200ms', '--json', '--quiet'])
    expect(r.code).toBe(0)
    expect(r.report).toMatchObject({ connected: 30, connectFailures: 0 })
    expect(most).toBeGreaterThan(0)
    expect(most).toBeLessThanOrEqual(4)
  })

  it('sub mode counts what it receives on its filter', async () => {
    const b = await broker()
    const run = bench(['sub', '-b', b.url, '-c', '2', '-t', 'feed/%i', '--duration', '3s', '--json', '--quiet', '-w', '1'])
    await subscribedTo(b, 'feed/1')
    for (let i = 0; i < 10; i++) await b.publish({ topic: 'feed/1', payload: Buffer.alloc(16) })
    const r = await run
    expect(r.code).toBe(0)
    expect(r.report).toMatchObject({ mode: 'sub', connected: 2 })
    expect(r.report!.received).toBe(10)
  })

  it('bad usage exits 2 naming the problem; an unreachable broker exits 3', async () => {
    expect((await bench(['flood'])).code).toBe(2)
    const badMode = await bench(['flood'])
    expect(badMode.err).toMatch(/the mode must be one of conn, pub, sub, pubsub, got "flood"/)
    const badThreshold = await bench(['pub', '--fail-if', 'p99>>5'])
    expect(badThreshold.code).toBe(2)
    expect(badThreshold.err).toMatch(/--fail-if: cannot read "p99>>5"/)
    const badTopic = await bench(['pub', '-t', 'a/#'])
    expect(badTopic.code).toBe(2)
    expect(badTopic.err).toMatch(/--topic/)
    const both = await bench(['pub', '-I', '10ms', '--rate', '5'])
    expect(both.code).toBe(2)
    const tooSmall = await bench(['pub', '-s', '8'])
    expect(tooSmall.code).toBe(2)
    const port = await closedPort()
    const unreachable = await bench(['pub', '-b', `mqtt://127.0.0.1:${port}`, '--duration', '1s'])
    expect(unreachable.code).toBe(3)
    expect(unreachable.err).toMatch(/cannot reach mqtt:\/\/127\.0\.0\.1/)
  })
})

describe('bench building blocks', () => {
  it('parses thresholds with units, and refuses what it cannot read', () => {
    expect(parseThresholds('p99>50ms, loss>0,p50<=500us,max>=2s,loss%>0.1%,rate<1000')).toEqual([
      { metric: 'p99', op: '>', value: 50, text: 'p99>50ms' },
      { metric: 'loss', op: '>', value: 0, text: 'loss>0' },
      { metric: 'p50', op: '<=', value: 0.5, text: 'p50<=500us' },
      { metric: 'max', op: '>=', value: 2000, text: 'max>=2s' },
      { metric: 'loss%', op: '>', value: 0.1, text: 'loss%>0.1%' },
      { metric: 'rate', op: '<', value: 1000, text: 'rate<1000' }
    ])
    expect(() => parseThresholds('latency>5')).toThrow(/cannot read "latency>5"/)
    expect(() => parseThresholds('loss>5ms')).toThrow(/plain number/)
    expect(() => parseThresholds('')).toThrow(/no threshold/)
  })

  it('derives the subscribers\' filter from placeholders', () => {
    expect(defaultSubTopic('bench/%i')).toBe('bench/+')
    expect(defaultSubTopic('a/%c/x/dev-%i')).toBe('a/+/x/+')
    expect(defaultSubTopic('fixed/topic')).toBe('fixed/topic')
  })

  it('keeps percentiles within 1/64 of the value, exact extremes, and merges by adding', () => {
    const h = new LatencyHistogram()
    for (let v = 1; v <= 100_000; v++) h.record(v)
    for (const p of [50, 90, 99, 99.9]) {
      const exact = (p / 100) * 100_000
      expect(Math.abs(h.percentile(p) - exact) / exact).toBeLessThan(1 / 64)
    }
    expect(h.percentile(100)).toBe(100_000)
    expect(h.min).toBe(1)
    const other = new LatencyHistogram()
    other.record(5_000_000)
    h.add(other)
    expect(h.count).toBe(100_001)
    expect(h.max).toBe(5_000_000)
    expect(new LatencyHistogram().percentile(99)).toBe(0)
  })
})
