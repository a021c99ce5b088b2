import { connect as netConnect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import mqttPacket from 'mqtt-packet'
import { createBroker, type BrokerOptions, type EmbeddedBroker } from '../../broker/index.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

async function broker (options: Partial<BrokerOptions>): Promise<EmbeddedBroker> {
  return td.add(await createBroker({ port: 0, ...options }), (b) => b.close())
}

/** Resolve once `check()` holds (looked at every 20 ms), or reject naming `what` after `ms`. */
function until (check: () => boolean, what: () => string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const look = (): void => {
      if (check()) { resolve(); return }
      if (Date.now() - started > ms) { reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)); return }
      setTimeout(look, 20)
    }
    look()
  })
}

/**
 * A subscriber on a raw socket, so the test decides when it reads: it connects, subscribes, and then counts the
 * PUBLISH packets it reads; `stopReading()` leaves everything in the kernel and the broker's buffers.
 */
async function rawSubscriber (port: number, clientId: string, filter: string, qos: 0 | 1): Promise<{ socket: Socket; received: () => number; stopReading: () => void; readAgain: () => void }> {
  const socket = netConnect(port, '127.0.0.1')
  td.add(socket, (s) => s.destroy())
  socket.on('error', () => undefined)
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let received = 0
  let subscribed: () => void = () => undefined
  const suback = new Promise<void>((resolve) => { subscribed = resolve })
  parser.on('packet', (p) => {
    if (p.cmd === 'connack') socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }))
    else if (p.cmd === 'suback') subscribed()
    else if (p.cmd === 'publish') {
      received++
      if (p.qos === 1) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId! }))
    }
  })
  socket.on('data', (d) => parser.parse(d))
  socket.on('connect', () => { socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 })) })
  await suback
  return { socket, received: () => received, stopReading: () => { socket.pause() }, readAgain: () => { socket.resume() } }
}

const payload = Buffer.alloc(1024, 'x')

describe('slow subscribers', () => {
  it('one that stops reading neither stalls the others nor queues beyond its limit: its QoS 0 messages are dropped and counted', async () => {
    const queueBytes = 256 * 1024
    const b = await broker({ subscriberQueueBytes: queueBytes, slowSubscriberMs: 200 })
    const slow = await rawSubscriber(b.port!, 'slow', 'load/#', 0)
    slow.stopReading()
    const fast = td.client(await connectClient(b.url!, { clientId: 'fast' }))
    await fast.subscribeAsync('load/#', { qos: 0 })
    let fastGot = 0
    let lastSeq = -1
    let outOfOrder = 0
    fast.on('message', (_t, p) => { fastGot++; const seq = p.readUInt32BE(0); if (seq <= lastSeq) outOfOrder++; lastSeq = seq })
    const pub = td.client(await connectClient(b.url!, { clientId: 'pub' }))
    // 20 MB: far more than the kernel's socket buffers and the broker's queue can hold for the subscriber that does
    // not read.
    const n = 20_000
    for (let i = 0; i < n; i++) {
      const p = Buffer.from(payload)
      p.writeUInt32BE(i, 0)
      pub.publish(`load/${i % 10}`, p, { qos: 0 })
    }
    await until(() => fastGot === n, () => `the reading subscriber to get all ${n} messages (got ${fastGot}; broker ${JSON.stringify(b.stats().delivery)})`, 45_000)
    expect(outOfOrder).toBe(0)
    const s = b.subscriberStats('slow')!
    expect(s.droppedQos0).toBeGreaterThan(0)
    expect(s.lagging).toBe(true)
    // The queue is bounded: the check comes before each write, so it can pass the limit by one message at most.
    expect(s.queuedBytes).toBeLessThan(queueBytes + payload.length + 64)
    expect(b.subscriberStats('fast')).toMatchObject({ droppedQos0: 0 })
    expect(b.stats().delivery.droppedQos0).toBe(s.droppedQos0)
    expect(b.stats().delivery.lagging).toBe(1)
  })

  it('one given a queue of its own by client id keeps what the default limit would drop, and gets all of it once it reads', async () => {
    const queueBytes = 256 * 1024
    const b = await broker({ subscriberQueueBytes: queueBytes, subscriberQueueBytesById: { 'run-observer': 64 * 1024 * 1024 }, slowSubscriberMs: 200 })
    const slow = await rawSubscriber(b.port!, 'slow', 'load/#', 0)
    const observer = await rawSubscriber(b.port!, 'run-observer', 'load/#', 0)
    slow.stopReading()
    observer.stopReading()
    const fast = td.client(await connectClient(b.url!, { clientId: 'fast' }))
    await fast.subscribeAsync('load/#', { qos: 0 })
    let fastGot = 0
    fast.on('message', () => { fastGot++ })
    const pub = td.client(await connectClient(b.url!, { clientId: 'pub' }))
    // 10 MB: beyond the kernel's socket buffers and the default limit, within the observer's own.
    const n = 10_000
    for (let i = 0; i < n; i++) pub.publish(`load/${i % 10}`, payload, { qos: 0 })
    await until(() => fastGot === n, () => `the reading subscriber to get all ${n} messages (got ${fastGot}; broker ${JSON.stringify(b.stats().delivery)})`, 45_000)
    expect(b.subscriberStats('slow')!.droppedQos0).toBeGreaterThan(0)
    const held = b.subscriberStats('run-observer')!
    expect(held.droppedQos0).toBe(0)
    expect(held.queuedBytes).toBeGreaterThan(queueBytes)
    observer.readAgain()
    await until(() => observer.received() === n, () => `the observer to read all ${n} messages (read ${observer.received()})`, 45_000)
  })

  it('one that is only busy holds the publishers (ingress backpressure) instead of losing messages', async () => {
    // With no lagging in sight (slowSubscriberMs of a minute), a subscriber that pauses its reading makes the
    // broker stop reading the publisher: what the broker holds stays bounded, nothing is dropped, and everything
    // arrives once the subscriber reads again.
    const b = await broker({ slowSubscriberMs: 60_000, subscriberPauseBytes: 64 * 1024 })
    const busy = await rawSubscriber(b.port!, 'busy', 'load/#', 0)
    busy.stopReading()
    const pub = td.client(await connectClient(b.url!, { clientId: 'pub' }))
    const n = 20_000
    for (let i = 0; i < n; i++) pub.publish('load/x', payload, { qos: 0 })
    await until(() => b.stats().delivery.publisherWaits > 0 && b.subscriberStats('busy')!.queuedBytes > 64 * 1024, () => `the publisher to be held (${JSON.stringify(b.stats().delivery)})`)
    // Held: the broker has stopped routing the publisher's messages well short of all of them.
    const routedWhileHeld = b.stats().router.routed
    expect(routedWhileHeld).toBeLessThan(n)
    expect(b.subscriberStats('busy')!.queuedBytes).toBeLessThan(b.options.subscriberQueueBytes)
    busy.readAgain()
    await until(() => busy.received() === n, () => `the busy subscriber to get all ${n} messages (got ${busy.received()})`, 45_000)
    expect(b.subscriberStats('busy')).toMatchObject({ droppedQos0: 0, lagging: false })
    expect(b.stats().delivery.droppedQos0).toBe(0)
  })

  it('QoS 1 messages to a lagging subscriber are kept up to their own limit, then dropped and counted', async () => {
    const qos1QueueBytes = 256 * 1024
    const b = await broker({ subscriberQos1QueueBytes: qos1QueueBytes, slowSubscriberMs: 200, drainTimeout: 0 })
    const slow = await rawSubscriber(b.port!, 'slow1', 'load/#', 1)
    slow.stopReading()
    const fast = td.client(await connectClient(b.url!, { clientId: 'fast1' }))
    await fast.subscribeAsync('load/#', { qos: 1 })
    let fastGot = 0
    fast.on('message', () => { fastGot++ })
    const pub = td.client(await connectClient(b.url!, { clientId: 'pub1' }))
    const n = 10_000
    for (let i = 0; i < n; i++) pub.publish('load/x', payload, { qos: 1 })
    await until(() => fastGot === n, () => `the reading subscriber to get all ${n} QoS 1 messages (got ${fastGot}; broker ${JSON.stringify(b.stats())}; slow ${JSON.stringify(b.subscriberStats('slow1'))})`, 45_000)
    const s = b.subscriberStats('slow1')!
    expect(s.droppedQos1).toBeGreaterThan(0)
    expect(s.queuedBytes).toBeLessThan(qos1QueueBytes + 2 * payload.length)
    expect(b.subscriberStats('fast1')).toMatchObject({ droppedQos1: 0 })
  })
})
