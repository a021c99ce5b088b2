/**
 * The broker's connect path (broker/connect.ts) and per-connection trims (broker/connection.ts): clean sessions take
 * the direct path, everything else aedes' own, with the same behaviour either way.
 */
import { execFileSync } from 'node:child_process'
import { connect as netConnect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { afterEach, describe, expect, it } from 'vitest'
import mqttPacket from 'mqtt-packet'
import mqtt from 'mqtt'
import { createBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { ByteQueue } from '../../broker/byte-queue.ts'
import { Teardown } from '../helpers/teardown.ts'
import { collectMessages, connectClient, nextMessage, WAIT_TIMEOUT_MS } from '../helpers/mqtt.ts'

// V8's own answer to "is this object in fast mode", for the listener-table trims (test-only: natives syntax).
setFlagsFromString('--allow-natives-syntax')
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean

const td = new Teardown()
afterEach(async () => { await td.run() })

async function broker (): Promise<EmbeddedBroker> {
  return td.add(await createBroker({ port: 0 }), (b) => b.close())
}

/** Resolve when `what` happens (an event), reject after the wait time-out naming it. */
function until<T> (what: string, subscribe: (resolve: (value: T) => void) => void, timeoutMs = WAIT_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`waited ${timeoutMs} ms for ${what}`)) }, timeoutMs)
    subscribe((value) => { clearTimeout(timer); resolve(value) })
  })
}

/** A raw MQTT 3.1.1 connection: sends `packets` once connected, collects what the broker answers. */
function raw (port: number, packets: mqttPacket.Packet[]): { socket: Socket; received: mqttPacket.Packet[]; closed: Promise<void>; first: Promise<mqttPacket.Packet> } {
  const socket = td.add(netConnect(port, '127.0.0.1'), (s) => s.destroy())
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const received: mqttPacket.Packet[] = []
  const first = until<mqttPacket.Packet>('the first packet from the broker', (resolve) => { parser.once('packet', resolve) })
  parser.on('packet', (p) => { received.push(p) })
  socket.on('data', (d) => parser.parse(d))
  socket.on('error', () => undefined)
  socket.on('connect', () => { for (const p of packets) socket.write(mqttPacket.generate(p)) })
  const closed = until<void>('the broker to close the connection', (resolve) => { socket.on('close', () => { resolve() }) })
  return { socket, received, closed, first }
}

const connectPacket = (clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket =>
  ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, ...extra })

/** aedes' client for an id, for looking at its internals. */
function aedesClient (b: EmbeddedBroker, id: string): Record<string, unknown> & { conn: Record<string, unknown>; _parser: Record<string, unknown> } {
  const c = (b.aedes as unknown as { clients: Record<string, unknown> }).clients[id]
  if (c === undefined) throw new Error(`no aedes client ${id}`)
  return c as Record<string, unknown> & { conn: Record<string, unknown>; _parser: Record<string, unknown> }
}

describe('connect path', () => {
  it('answers a clean session by the direct path, with CONNACK 0 and session not present', async () => {
    const b = await broker()
    const r = raw(b.port!, [connectPacket('direct-1')])
    const connack = await r.first
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 0, sessionPresent: false })
    expect(b.stats().connects).toEqual({ direct: 1, aedes: 0 })
    expect(b.stats().clients).toBe(1)
    // The connection is live at the MQTT level.
    r.socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
    await until('PINGRESP', (resolve) => { const t = setInterval(() => { if (r.received.some((p) => p.cmd === 'pingresp')) { clearInterval(t); resolve(undefined) } }, 10) })
  })

  it('answers packets sent right behind the CONNECT, in the same segment, after the CONNACK', async () => {
    const b = await broker()
    const socket = td.add(netConnect(b.port!, '127.0.0.1'), (x) => x.destroy())
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    const received: string[] = []
    const answered = until<void>('CONNACK, SUBACK and PINGRESP', (resolve) => {
      parser.on('packet', (p) => { received.push(p.cmd); if (received.length === 3) resolve() })
    })
    socket.on('data', (d) => parser.parse(d))
    socket.on('error', () => undefined)
    socket.on('connect', () => {
      socket.write(Buffer.concat([
        mqttPacket.generate(connectPacket('eager-1')),
        mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/e/cmd', qos: 1 }] }),
        mqttPacket.generate({ cmd: 'pingreq' })
      ]))
    })
    await answered
    // CONNACK first; the PINGRESP may overtake the SUBACK (aedes answers a PINGREQ at once, a SUBSCRIBE a few ticks
    // later, on either connect path).
    expect(received[0]).toBe('connack')
    expect(received.slice(1).sort()).toEqual(['pingresp', 'suback'])
    expect(b.stats().connects.direct).toBe(1)
  })

  it('persistent sessions go through aedes: QoS 1 messages queued while offline arrive on reconnect', async () => {
    const b = await broker()
    const first = td.client(await connectClient(b.url!, { clientId: 'persist-1', clean: false }))
    await first.subscribeAsync('home/p/cmd', { qos: 1 })
    await first.endAsync()
    const pub = td.client(await connectClient(b.url!))
    for (let i = 1; i <= 3; i++) await pub.publishAsync('home/p/cmd', `m${i}`, { qos: 1 })
    const again = td.client(mqtt.connect(b.url!, { clientId: 'persist-1', clean: false, reconnectPeriod: 0 }))
    const got = collectMessages(again, (t) => t === 'home/p/cmd', (l) => l.length === 3, 'the three queued messages')
    const connack = until<{ sessionPresent: boolean }>('CONNACK of the persistent reconnect', (resolve) => { again.once('connect', resolve) })
    expect((await connack).sessionPresent).toBe(true)
    expect((await got).map((m) => m.payload.toString())).toEqual(['m1', 'm2', 'm3'])
    // Two persistent connects, plus the publisher's clean one.
    expect(b.stats().connects).toEqual({ direct: 1, aedes: 2 })
  })

  it('a clean session for an id with queued messages goes through aedes, which discards them [MQTT-3.1.2-6]', async () => {
    const b = await broker()
    const first = td.client(await connectClient(b.url!, { clientId: 'persist-2', clean: false }))
    await first.subscribeAsync('home/q/cmd', { qos: 1 })
    await first.endAsync()
    const pub = td.client(await connectClient(b.url!))
    await pub.publishAsync('home/q/cmd', 'stale', { qos: 1 })
    const clean = td.client(await connectClient(b.url!, { clientId: 'persist-2', clean: true }))
    expect(b.stats().connects.aedes).toBe(2)
    // The old session's subscription is gone too: only a new subscription's marker arrives, never 'stale'.
    const seen: string[] = []
    clean.on('message', (_t, p) => { seen.push(p.toString()) })
    await clean.subscribeAsync('home/q/marker', { qos: 1 })
    const marker = nextMessage(clean, (t) => t === 'home/q/marker', 'the marker')
    await pub.publishAsync('home/q/cmd', 'after', { qos: 1 })
    await pub.publishAsync('home/q/marker', 'marker', { qos: 1 })
    await marker
    expect(seen).toEqual(['marker'])
  })

  it('a second connection with the same client id takes over: the first is closed [MQTT-3.1.4-2]', async () => {
    const b = await broker()
    const a = raw(b.port!, [connectPacket('twin')])
    await a.first
    const second = raw(b.port!, [connectPacket('twin')])
    expect(await second.first).toMatchObject({ cmd: 'connack', returnCode: 0 })
    await a.closed
    expect(b.stats().connects.direct).toBe(2)
    expect(b.stats().clients).toBe(1)
    expect(aedesClient(b, 'twin').conn).not.toBe(undefined)
  })

  it('publishes the will of a client that connected by the direct path when its connection drops', async () => {
    const b = await broker()
    const watcher = td.client(await connectClient(b.url!))
    await watcher.subscribeAsync('home/w/status')
    const will = nextMessage(watcher, (t) => t === 'home/w/status', 'the will')
    const r = raw(b.port!, [connectPacket('will-1', { will: { topic: 'home/w/status', payload: Buffer.from('offline'), qos: 0, retain: false } })])
    await r.first
    expect(b.stats().connects.direct).toBe(2)
    r.socket.destroy()
    expect((await will).payload.toString()).toBe('offline')
  })

  it('closes a direct-path connection that stays silent past 1.5 keep-alive periods [MQTT-3.1.2-24]', async () => {
    const b = await broker()
    const r = raw(b.port!, [connectPacket('keepalive-1', { keepalive: 1 })])
    await r.first
    expect(b.stats().connects.direct).toBe(1)
    await r.closed
  })

  it('closes a connection that sends a second CONNECT [MQTT-3.1.0-2]', async () => {
    const b = await broker()
    const r = raw(b.port!, [connectPacket('twice'), connectPacket('twice')])
    await r.closed
    expect(r.received[0]).toMatchObject({ cmd: 'connack', returnCode: 0 })
  })

  it('leaves refusals to aedes: an MQTT 3.1 client id over the broker\'s limit gets CONNACK 0x02', async () => {
    const b = await broker()
    const r = raw(b.port!, [connectPacket('x'.repeat(129), { protocolId: 'MQIsdp', protocolVersion: 3 })])
    expect(await r.first).toMatchObject({ cmd: 'connack', returnCode: 2 })
    await r.closed
    expect(b.stats().connects).toEqual({ direct: 0, aedes: 1 })
  })
})

describe('$SYS client announcements', () => {
  it('publishes $SYS/<broker>/new/clients to a subscriber', async () => {
    const b = await broker()
    const sys = td.client(await connectClient(b.url!))
    await sys.subscribeAsync('$SYS/+/new/clients')
    const announced = nextMessage(sys, (t, p) => t.endsWith('/new/clients') && p.toString() === 'announced-1', 'the announcement of announced-1')
    const r = raw(b.port!, [connectPacket('announced-1')])
    await r.first
    expect((await announced).topic).toMatch(/^\$SYS\/[^/]+\/new\/clients$/)
  })

  it('publishes the announcement while something listens to the broker\'s publish event', async () => {
    const b = await broker()
    const announced = until<string>('the publish event of the announcement', (resolve) => {
      b.on('publish', (m) => { if (m.topic.endsWith('/new/clients')) resolve(m.payload.toString()) })
    })
    const r = raw(b.port!, [connectPacket('heard-1')])
    await r.first
    expect(await announced).toBe('heard-1')
  })

  it('routes no announcement when nothing would see it', async () => {
    const b = await broker()
    const routed = b.stats().router.routed
    const r = raw(b.port!, [connectPacket('quiet-1')])
    await r.first
    r.socket.destroy()
    await until('the client to disconnect', (resolve) => { b.once('clientDisconnect', resolve) })
    expect(b.stats().router.routed).toBe(routed)
  })
})

describe('per-connection trims', () => {
  it('gives each connection a lean parser, shared listeners and compact listener tables', async () => {
    const b = await broker()
    const one = raw(b.port!, [connectPacket('trim-1')])
    const two = raw(b.port!, [connectPacket('trim-2')])
    await one.first
    await two.first
    const c1 = aedesClient(b, 'trim-1')
    const c2 = aedesClient(b, 'trim-2')
    // The parser was made with a ByteQueue, and its settings no longer hold the CONNECT packet.
    expect(c1._parser._list).toBeInstanceOf(ByteQueue)
    expect(c1._parser.settings).toEqual({ protocolVersion: 4 })
    expect(c1._parser.settings).toBe(c2._parser.settings)
    expect(c1._parser._states).toBe(c2._parser._states)
    // aedes' bound per-connection listeners are one shared function each.
    const listeners = (c: typeof c1, on: Record<string, unknown>, event: string): unknown[] => (on as unknown as { listeners: (e: string) => unknown[] }).listeners.call(on, event)
    for (const [on1, on2, event] of [[c1.conn, c2.conn, 'error'], [c1.conn, c2.conn, 'end'], [c1._parser, c2._parser, 'error'], [c1._parser, c2._parser, 'packet']] as const) {
      const l1 = listeners(c1, on1, event)
      const l2 = listeners(c2, on2, event)
      expect(l1.some((l) => l2.includes(l)), `a shared ${event} listener`).toBe(true)
      expect(l1.every((l) => (l as { name: string }).name.startsWith('bound ') === false), `no bound ${event} listener`).toBe(true)
    }
    // Empty tables are plain objects without a prototype, not Object.create(null) dictionaries: their keys are the
    // listeners' events, and errors still reach the client.
    expect(Object.keys(c1._events as object)).toEqual(['error'])
    expect(Object.getPrototypeOf(c1.subscriptions)).toBe(null)
    for (const [what, table] of [['client', c1._events], ['parser', c1._parser._events], ['socket', c1.conn._events], ['subscriptions', c1.subscriptions], ['duplicates', c1.duplicates]] as const) {
      expect(hasFastProperties(table as object), `the ${what} table in fast mode`).toBe(true)
    }
    const closed = one.closed
    ;(c1.conn as unknown as Socket).emit('error', new Error('test: injected socket error'))
    await closed
    expect(b.stats().clientErrors).toBe(1)
    expect(b.stats().clients).toBe(1)
  })
})

describe('TCP_NODELAY', () => {
  // Node cannot read a socket option back: a Python helper asks the kernel for it on the broker's socket.
  const helper = fileURLToPath(new URL('../helpers/tcp-nodelay.py', import.meta.url))

  it.runIf(process.platform === 'linux')('holds on the sockets the broker accepts, inherited from its listener', async () => {
    const b = await broker()
    const { socket, first } = raw(b.port as number, [connectPacket('nodelay-1')])
    expect((await first).cmd).toBe('connack')
    const answer = execFileSync('python3', [helper, String(process.pid), String(b.port), String(socket.localPort)], { encoding: 'utf8' })
    expect(answer.trim()).toBe('1')
  })
})
