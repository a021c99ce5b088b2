/**
 * A device whose connection is backed up drops telemetry and counts it, instead of queueing it without bound; when
 * the connection drains it sends again, and the dropped ticks show as a `seq` gap.
 */
import { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { ScaledClock } from '../../core/clock.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { createTopics } from '../../core/topics.ts'
import { Speaker } from '../../devices/speaker.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { specFor } from './helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

/**
 * A stream between a client and the broker's in-process transport whose write side can be held shut: bytes still
 * flow, but their write callbacks wait, so the client's stream fills up as it would behind a slow broker. A
 * high-water mark of one byte makes the first held write back the stream up.
 */
class Valve extends Duplex {
  private readonly held: Array<() => void> = []
  shut = false
  constructor (private readonly inner: Duplex) {
    super({ writableHighWaterMark: 1 })
    inner.on('data', (d: Buffer) => { if (!this.push(d)) inner.pause() })
    inner.on('end', () => { this.push(null) })
    inner.on('error', (err) => { this.destroy(err) })
  }

  override _read (): void { this.inner.resume() }
  override _write (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk)
    if (this.shut) this.held.push(cb)
    else cb()
  }

  open (): void {
    this.shut = false
    for (const cb of this.held.splice(0)) cb()
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    for (const h of this.held.splice(0)) h()
    this.inner.destroy()
    cb(err)
  }
}

/** Resolve when `check()` holds; reject naming `what` after `ms`. Polls on the event loop, never sleeps a fixed time. */
function until (check: () => boolean, what: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms
    const poll = (): void => {
      if (check()) { resolve(); return }
      if (Date.now() > deadline) { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)); return }
      setTimeout(poll, 5)
    }
    poll()
  })
}

describe('telemetry under backpressure', () => {
  it('is dropped and counted while the connection is backed up, and flows again after it drains', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    let valve: Valve | undefined
    const clock = new ScaledClock(1)
    const speaker = td.add(new Speaker(specFor('speaker', { id: 'slow-link', telemetryIntervalMs: 10 }), {
      target: { stream: () => (valve = new Valve(broker.connectInProcess())) },
      topics,
      clock,
      random: new Random(1),
      logger: silentLogger,
      publishLogLevel: 'silent'
    }), (d) => d.stop({ graceful: false }))
    const obs = td.client(await connectClient(broker.url!))
    const seqs: number[] = []
    obs.on('message', (_t, p) => { seqs.push((JSON.parse(p.toString()) as { seq: number }).seq) })
    await obs.subscribeAsync(topics.telemetry('slow-link'), { qos: 0 })
    await speaker.start()
    await until(() => seqs.length >= 3, 'three telemetry messages before the link backs up')

    valve!.shut = true
    speaker.execute('say', { text: 'fills the link' }) // a QoS 1 event: its write is held, the stream backs up
    await until(() => speaker.counters.telemetryDropped >= 5, 'five dropped telemetry ticks')
    // Dropped, not queued: the client's stream holds the one held write, not every tick since.
    expect(speaker.counters.telemetrySent).toBeLessThan(speaker.seq)
    const sentWhileShut = speaker.counters.telemetrySent

    valve!.open()
    await until(() => speaker.counters.telemetrySent >= sentWhileShut + 3, 'telemetry sent again after the link drained')
    const dropped = speaker.counters.telemetryDropped
    const lastSeq = speaker.seq
    await until(() => seqs.some((q) => q >= lastSeq), `telemetry seq ${lastSeq} at the observer`)
    // The dropped ticks used their sequence numbers: the observer sees them as gaps of exactly that many.
    const seen = seqs.filter((q) => q <= lastSeq)
    const missing = (lastSeq - seen[0]! + 1) - seen.length
    expect(missing).toBe(dropped)
  })
})
