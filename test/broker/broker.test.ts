import { connect as netConnect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import mqttPacket from 'mqtt-packet'
import { createBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { createMqttClient, waitConnected } from '../../core/mqtt-connect.ts'
import { FleetError } from '../../core/errors.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

async function broker (options: Parameters<typeof createBroker>[0] = {}): Promise<EmbeddedBroker> {
  return td.add(await createBroker({ port: 0, ...options }), (b) => b.close())
}

/** Open a raw TCP socket and resolve with the first decoded packet the broker sends, or `close`. */
function rawSession (port: number, bytes: Buffer): Promise<{ packet: mqttPacket.Packet | undefined; closed: boolean; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1')
    td.add(socket, (s) => s.destroy())
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let first: mqttPacket.Packet | undefined
    parser.on('packet', (p) => { first ??= p })
    socket.on('data', (d) => parser.parse(d))
    socket.on('close', () => { resolve({ packet: first, closed: true, socket }) })
    socket.on('error', () => undefined)
    socket.on('connect', () => socket.write(bytes))
  })
}

describe('embedded broker', () => {
  it('accepts MQTT.js clients over TCP and routes messages between them', async () => {
    const b = await broker()
    expect(b.port).toBeGreaterThan(0)
    expect(b.url).toBe(`mqtt://127.0.0.1:${b.port}`)
    const sub = td.client(await connectClient(b.url!))
    const pub = td.client(await connectClient(b.url!))
    await sub.subscribeAsync('home/+/telemetry', { qos: 1 })
    const got = nextMessage(sub, (t) => t === 'home/x/telemetry')
    await pub.publishAsync('home/x/telemetry', '{"seq":1}', { qos: 1 })
    expect((await got).payload.toString()).toBe('{"seq":1}')
    expect(b.stats().clients).toBe(2)
  })

  it('carries real MQTT over the in-process transport, to and from TCP clients', async () => {
    const b = await broker()
    const target = { stream: () => b.connectInProcess() }
    const inproc = td.client(createMqttClient(target, { clientId: 'inproc-1', reconnectPeriod: 0 }))
    await waitConnected(inproc, target)
    const tcp = td.client(await connectClient(b.url!))
    await tcp.subscribeAsync('a/b')
    const got = nextMessage(tcp, (t) => t === 'a/b')
    await inproc.publishAsync('a/b', 'from inside', { qos: 1 })
    expect((await got).payload.toString()).toBe('from inside')
    await inproc.subscribeAsync('c/d', { qos: 1 })
    const back = nextMessage(inproc, (t) => t === 'c/d')
    await tcp.publishAsync('c/d', 'from outside', { qos: 1 })
    expect((await back).payload.toString()).toBe('from outside')
  })

  it('delivers retained messages to exact and wildcard subscriptions, and clears them with an empty payload', async () => {
    const b = await broker()
    const pub = td.client(await connectClient(b.url!))
    await pub.publishAsync('home/d1/status', 'online', { qos: 1, retain: true })
    await pub.publishAsync('home/d2/status', 'offline', { qos: 1, retain: true })
    await pub.publishAsync('home/d1/state/reported', '{}', { qos: 1, retain: true })
    const seen: string[] = []
    const sub = td.client(await connectClient(b.url!))
    sub.on('message', (t, p) => seen.push(`${t}=${p.toString()}`))
    const two = new Promise<void>((resolve) => { sub.on('message', () => { if (seen.length === 2) resolve() }) })
    await sub.subscribeAsync('home/+/status', { qos: 1 })
    await two
    expect(seen.sort()).toEqual(['home/d1/status=online', 'home/d2/status=offline'])
    await pub.publishAsync('home/d1/status', '', { qos: 1, retain: true })
    const late = td.client(await connectClient(b.url!))
    const lateSeen: string[] = []
    late.on('message', (t) => lateSeen.push(t))
    const one = nextMessage(late, () => true)
    await late.subscribeAsync(['home/d1/status', 'home/d2/status'], { qos: 1 })
    await one
    // Both subscriptions were answered together; d1's retained message is gone.
    expect(lateSeen).toEqual(['home/d2/status'])
  })

  it('answers a zero-length client id with CleanSession=0 with CONNACK 0x02 and closes [MQTT-3.1.3-8]', async () => {
    const b = await broker()
    // Hand-encoded: MQTT.js and mqtt-packet refuse to generate this packet, which is the point of the test.
    const connect = Buffer.from([
      0x10, 12, // CONNECT, remaining length
      0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, // "MQTT", protocol level 4 (3.1.1)
      0x00, // connect flags: CleanSession=0
      0x00, 0x1e, // keep alive 30 s
      0x00, 0x00 // zero-length client id
    ])
    const { packet, closed } = await rawSession(b.port!, connect)
    expect(packet).toMatchObject({ cmd: 'connack', returnCode: 2 })
    expect(closed).toBe(true)
  })

  it('accepts a zero-length client id with CleanSession=1', async () => {
    const b = await broker()
    const c = td.client(await connectClient(b.url!, { clientId: '', clean: true }))
    expect(c.connected).toBe(true)
  })

  it('closes only the connection that sent a malformed packet', async () => {
    const b = await broker()
    const good = td.client(await connectClient(b.url!))
    await good.subscribeAsync('still/here')
    // 0xF0 is the reserved packet type 15 [MQTT-2.2.1]: the broker must close that connection.
    const { closed } = await rawSession(b.port!, Buffer.from([0xf0, 0x00]))
    expect(closed).toBe(true)
    const got = nextMessage(good, (t) => t === 'still/here')
    const other = td.client(await connectClient(b.url!))
    await other.publishAsync('still/here', 'yes', { qos: 1 })
    expect((await got).payload.toString()).toBe('yes')
    expect(good.connected).toBe(true)
    expect(b.stats().clientErrors).toBeGreaterThanOrEqual(1)
  })

  it('names the port when it is already taken', async () => {
    const first = await broker()
    const err = await createBroker({ port: first.port!, host: '127.0.0.1' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_PORT_IN_USE')
    expect((err as FleetError).exitCode).toBe(3)
    expect((err as FleetError).message).toContain(`port ${first.port}`)
  })

  it('reports every invalid option together', async () => {
    const err = await createBroker({ port: 70000, host: '', concurrency: 0 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    const issues = (err as FleetError).issues.map((i) => i.path)
    expect(issues).toEqual(['port', 'host', 'concurrency'])
  })

  it('names a bad per-subscriber queue size by its client id, and takes no other shape than an object', async () => {
    const err = await createBroker({ port: 0, subscriberQueueBytesById: { 'run-observer': 10, ok: 2048 } }).catch((e: unknown) => e)
    expect((err as FleetError).issues.map((i) => i.path)).toEqual(['subscriberQueueBytesById["run-observer"]'])
    const list = await createBroker({ port: 0, subscriberQueueBytesById: [4096] as unknown as Record<string, number> }).catch((e: unknown) => e)
    expect((list as FleetError).issues.map((i) => i.path)).toEqual(['subscriberQueueBytesById'])
  })

  it('close() disconnects clients and is idempotent', async () => {
    const b = await createBroker({ port: 0 })
    const c = td.client(await connectClient(b.url!))
    const closed = new Promise<void>((resolve) => { c.once('close', () => { resolve() }) })
    await Promise.all([b.close(), b.close()])
    await closed
    expect(b.closed).toBe(true)
    // After close, an in-process connect fails like a refused TCP connect, through the client's error event.
    const target = { stream: () => b.connectInProcess() }
    const late = td.client(createMqttClient(target, { reconnectPeriod: 0 }))
    await expect(waitConnected(late, target)).rejects.toMatchObject({ code: 'FLEET_ERR_BROKER_UNREACHABLE' })
  })

  it('runs without a TCP listener for in-process fleets', async () => {
    const b = await broker({ tcp: false })
    expect(b.port).toBeUndefined()
    expect(b.url).toBeUndefined()
    const target = { stream: () => b.connectInProcess() }
    const c = td.client(createMqttClient(target, { reconnectPeriod: 0 }))
    await waitConnected(c, target)
    expect(b.stats().clients).toBe(1)
  })
})

/** Resolve when `check()` holds after one of the broker's events, or reject naming `what` after `ms`. */
function untilEvent (b: EmbeddedBroker, event: 'publish' | 'subscribe' | 'clientConnect' | 'clientDisconnect', check: () => boolean, what: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { b.off(event, on); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    const on = (): void => { if (check()) { clearTimeout(timer); b.off(event, on); resolve() } }
    b.on(event, on)
    on()
  })
}

/**
 * One QoS 1 PUBLISH to `first`, `count` QoS 0 PUBLISH packets to `topic`, then one to `last`, as one buffer (one
 * socket write). A QoS 1 delivery is asynchronous in aedes, so the first message holds a routing slot for a while.
 */
function publishBurst (clientId: string, first: string, topic: string, count: number, last: string): Buffer {
  const parts: Buffer[] = [mqttPacket.generate({ cmd: 'publish', topic: first, payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false })]
  const one = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
  for (let i = 0; i < count; i++) parts.push(one)
  parts.push(mqttPacket.generate({ cmd: 'publish', topic: last, payload: Buffer.from(clientId), qos: 0, retain: false, dup: false }))
  return Buffer.concat(parts)
}

describe('embedded broker under load', () => {
  it('routes a backlog of thousands of messages nobody subscribed to without overflowing the stack', async () => {
    // The crash seen with 1,809 devices at --speed 60: aedes' default router (mqemitter) completed each queued
    // message with no subscriber inside the release of the previous one, one stack frame group per queued message.
    // A small concurrency makes the backlog form on purpose: a QoS 1 delivery to `busy` holds the only slot while
    // ten publishers' bursts of unmatched messages queue behind it.
    const b = await broker({ concurrency: 1 })
    const sub = td.client(await connectClient(b.url!))
    await sub.subscribeAsync(['busy', 'end'], { qos: 1 })
    const ends: string[] = []
    sub.on('message', (topic, payload) => { if (topic === 'end') ends.push(payload.toString()) })
    const publishers = 10
    const perPublisher = 5_000
    for (let i = 0; i < publishers; i++) {
      const socket = netConnect(b.port!, '127.0.0.1')
      td.add(socket, (s) => s.destroy())
      socket.on('error', () => undefined)
      socket.on('connect', () => { socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `burst-${i}`, keepalive: 0 })) })
      // The burst goes after the CONNACK: aedes holds only a few packets received before it answers CONNECT.
      socket.once('data', () => { socket.write(publishBurst(`burst-${i}`, 'busy', 'nobody/listens', perPublisher, 'end')) })
    }
    const everyEnd = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`timed out waiting for the ${publishers} 'end' messages; got ${ends.length}`)) }, 45_000)
      sub.on('message', () => { if (ends.length === publishers) { clearTimeout(timer); resolve() } })
    })
    await everyEnd
    // Messages are routed in arrival order per publisher, so every burst before its `end` has been routed.
    const total = publishers * (perPublisher + 2)
    await untilEvent(b, 'publish', () => b.stats().publishedIn === total, `${total} publications counted`)
    expect(b.stats().router.backlogPeak).toBeGreaterThan(1000)
    expect(b.stats().router).toMatchObject({ backlog: 0 })
  })
})

describe('broker hooks and events', () => {
  it('authenticate: false answers CONNACK 0x05 and the client never connects', async () => {
    const b = await broker({ authenticate: (client, username) => client.id === 'ok' && username === 'u' })
    await expect(connectClient(b.url!, { clientId: 'nope', username: 'u' })).rejects.toThrow(/Not authorized/)
    const ok = td.client(await connectClient(b.url!, { clientId: 'ok', username: 'u' }))
    expect(ok.connected).toBe(true)
  })

  it('authenticate may answer with a promise; a rejection refuses the client', async () => {
    const b = await broker({ authenticate: (client) => client.id === 'boom' ? Promise.reject(new Error('directory down')) : Promise.resolve(true) })
    await expect(connectClient(b.url!, { clientId: 'boom' })).rejects.toThrow(/Not authorized/)
    td.client(await connectClient(b.url!, { clientId: 'fine' }))
  })

  it('authorizeSubscribe: false refuses that filter only (SUBACK 0x80), and the connection stays open', async () => {
    const b = await broker({ authorizeSubscribe: (_c, sub) => !sub.topic.startsWith('secret/') })
    const c = td.client(await connectClient(b.url!))
    // MQTT.js 5 reports a refused filter (SUBACK 0x80) as the subscription's error.
    await expect(c.subscribeAsync('secret/x', { qos: 1 })).rejects.toThrow(/Subscribe error/)
    const granted = await c.subscribeAsync({ 'open/x': { qos: 1 } })
    expect(granted.map((g) => [g.topic, g.qos])).toEqual([['open/x', 1]])
    expect(c.connected).toBe(true)
  })

  it('authorizePublish: false closes the publisher (MQTT 3.1.1 has no negative PUBACK) and routes nothing', async () => {
    const b = await broker({ authorizePublish: (_c, m) => !m.topic.startsWith('forbidden/') })
    const sub = td.client(await connectClient(b.url!))
    await sub.subscribeAsync('#')
    const received: string[] = []
    sub.on('message', (t) => received.push(t))
    const pub = td.client(await connectClient(b.url!))
    const closed = new Promise<void>((resolve) => { pub.once('close', () => { resolve() }) })
    const got = nextMessage(sub, (t) => t === 'allowed/x')
    pub.publish('forbidden/x', 'no')
    await closed
    const pub2 = td.client(await connectClient(b.url!))
    await pub2.publishAsync('allowed/x', 'yes', { qos: 1 })
    expect((await got).payload.toString()).toBe('yes')
    expect(received).toEqual(['allowed/x'])
  })

  it('emits clientConnect, subscribe, publish, unsubscribe and clientDisconnect with the client', async () => {
    const b = await broker()
    const seen: string[] = []
    b.on('clientConnect', (c) => seen.push(`connect ${c.id}`))
    b.on('subscribe', (subs, c) => seen.push(`subscribe ${c.id} ${subs.map((s) => `${s.topic}@${s.qos}`).join(',')}`))
    const onPublish = (m: { topic: string; payload: Buffer }, c: { id: string } | null): void => { if (!m.topic.startsWith('$SYS')) seen.push(`publish ${c?.id ?? 'broker'} ${m.topic}=${m.payload.toString()}`) }
    b.on('publish', onPublish)
    b.on('unsubscribe', (filters, c) => seen.push(`unsubscribe ${c.id} ${filters.join(',')}`))
    b.on('clientDisconnect', (c) => seen.push(`disconnect ${c.id}`))
    const c = await connectClient(b.url!, { clientId: 'watcher' })
    await c.subscribeAsync('a/#', { qos: 1 })
    // The PUBACK goes out before the message is routed [MQTT-4.3.2-2 allows either], so wait for the event.
    const routed = untilEvent(b, 'publish', () => seen.includes('publish watcher a/b=hi'), 'the watcher\'s message to be routed')
    await c.publishAsync('a/b', 'hi', { qos: 1 })
    await routed
    await b.publish({ topic: 'a/c', payload: 'from the broker' })
    await c.unsubscribeAsync('a/#')
    const gone = untilEvent(b, 'clientDisconnect', () => seen.includes('disconnect watcher'), 'the watcher to disconnect')
    await c.endAsync()
    await gone
    b.off('publish', onPublish)
    expect(seen).toEqual(['connect watcher', 'subscribe watcher a/#@1', 'publish watcher a/b=hi', 'publish broker a/c=from the broker', 'unsubscribe watcher a/#', 'disconnect watcher'])
  })

  it('disconnect(id) drops the connection without DISCONNECT, so the will is published [MQTT-3.1.2-8]', async () => {
    const b = await broker()
    const obs = td.client(await connectClient(b.url!))
    await obs.subscribeAsync('status/+')
    td.client(await connectClient(b.url!, { clientId: 'dev', will: { topic: 'status/dev', payload: Buffer.from('offline'), qos: 0, retain: false } }))
    const will = nextMessage(obs, (t) => t === 'status/dev')
    expect(b.disconnect('dev')).toBe(true)
    expect((await will).payload.toString()).toBe('offline')
    expect(b.disconnect('nobody')).toBe(false)
  })

  it('refuses hooks that are not functions, with the others options', async () => {
    const err = await createBroker({ port: 0, authenticate: 'yes' as unknown as undefined }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).issues.map((i) => i.path)).toEqual(['authenticate'])
  })
})
