import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Writable } from 'node:stream'
import type { MqttClient } from 'mqtt'
import { createThreadBroker, type ThreadBroker } from '../../broker/thread.ts'
import { createBroker } from '../../broker/broker.ts'
import { createMqttClient, waitConnected } from '../../core/mqtt-connect.ts'
import { FleetError } from '../../core/errors.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'

const brokers: ThreadBroker[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true)
  for (const b of brokers.splice(0)) await b.close()
})

async function threadBroker (options: Parameters<typeof createThreadBroker>[0] = {}): Promise<ThreadBroker> {
  const b = await createThreadBroker({ port: 0, ...options })
  brokers.push(b)
  return b
}

async function inProcessClient (b: ThreadBroker, clientId: string): Promise<MqttClient> {
  const target = { stream: () => b.connectInProcess() }
  const c = createMqttClient(target, { clientId, reconnectPeriod: 0 })
  clients.push(c)
  await waitConnected(c, target, 20_000)
  return c
}

/** Poll the broker's statistics (reported by its thread once a second) until `ok`, or fail naming what. */
async function statsUntil (b: ThreadBroker, ok: (s: ReturnType<ThreadBroker['stats']>) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!ok(b.stats())) {
    if (Date.now() > until) throw new Error(`statsUntil: waited ${timeoutMs} ms for ${what}; stats ${JSON.stringify(b.stats())}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('the embedded broker in a thread of its own', () => {
  it('routes between in-process clients over the thread channel and TCP clients on its listener', async () => {
    const b = await threadBroker()
    expect(b.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/)
    const inside = await inProcessClient(b, 'inside')
    const outside = await connectClient(b.url as string, { clientId: 'outside' })
    clients.push(outside)
    await inside.subscribeAsync('from/tcp', { qos: 1 })
    await outside.subscribeAsync('from/inproc', { qos: 0 })
    const atInside = nextMessage(inside, (t) => t === 'from/tcp', 'the TCP client\'s message at the in-process client')
    const atOutside = nextMessage(outside, (t) => t === 'from/inproc', 'the in-process client\'s message at the TCP client')
    await outside.publishAsync('from/tcp', 'hello inside', { qos: 1 })
    await inside.publishAsync('from/inproc', Buffer.alloc(200 * 1024, 3)) // bigger than the channel's window
    expect((await atInside).payload.toString()).toBe('hello inside')
    expect((await atOutside).payload.length).toBe(200 * 1024)
    // A retained message set over one transport is given to a subscriber on the other.
    await inside.publishAsync('kept/here', 'retained', { qos: 1, retain: true })
    const late = await connectClient(b.url as string, { clientId: 'late' })
    clients.push(late)
    const kept = nextMessage(late, (t) => t === 'kept/here', 'the retained message')
    await late.subscribeAsync('kept/here')
    expect((await kept).payload.toString()).toBe('retained')
    await statsUntil(b, (s) => s.clients === 3 && s.publishedIn >= 3, 'three clients and three publishes in the thread\'s statistics')
    expect(b.channelStats().connections).toBe(1)
  })

  it('closes only the in-process connection that sent a malformed packet', async () => {
    const b = await threadBroker({ tcp: false })
    const good = await inProcessClient(b, 'good')
    await good.subscribeAsync('still/here')
    const raw = b.connectInProcess()
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('waited 20000 ms for the broker to close the malformed connection')) }, 20_000)
      raw.once('close', () => { clearTimeout(timer); resolve() })
    })
    raw.on('error', () => undefined)
    raw.on('data', () => undefined)
    // 0xF0 is the reserved packet type 15 [MQTT-2.2.1]: the broker must close that connection.
    raw.write(Buffer.from([0xf0, 0x00]))
    await closed
    const got = nextMessage(good, (t) => t === 'still/here', 'a message to the client that did nothing wrong')
    const other = await inProcessClient(b, 'other')
    await other.publishAsync('still/here', 'yes', { qos: 1 })
    expect((await got).payload.toString()).toBe('yes')
    expect(good.connected).toBe(true)
    await statsUntil(b, (s) => s.clientErrors >= 1, 'the client error to be counted')
  })

  it('ends every in-process connection when it closes, and refuses new ones after', async () => {
    const b = await threadBroker({ tcp: false })
    const c = await inProcessClient(b, 'c')
    const gone = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('waited 20000 ms for the client to see the broker close')) }, 20_000)
      c.stream.once('close', () => { clearTimeout(timer); resolve() })
    })
    await b.close()
    await gone
    expect(b.closed).toBe(true)
    const refused = b.connectInProcess()
    const err = await new Promise<Error>((resolve) => refused.once('error', resolve))
    expect(err.message).toContain('closed')
  })

  it('names the port when it is already taken, as the broker in this thread does', async () => {
    const first = await createBroker({ port: 0 })
    try {
      const err = await createThreadBroker({ port: first.port as number }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(FleetError)
      expect((err as FleetError).code).toBe('FLEET_ERR_PORT_IN_USE')
      expect((err as FleetError).message).toContain(`port ${first.port}`)
    } finally {
      await first.close()
    }
  })

  it('refuses hooks, which cannot cross threads', async () => {
    const err = await createThreadBroker({ authenticate: () => true } as Parameters<typeof createThreadBroker>[0]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).message).toContain('authenticate')
  })

  it('writes its log lines through the caller\'s logger', async () => {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
    const logger = pino({ level: 'info' }, sink)
    const b = await threadBroker({ logger })
    await b.close()
    const listening = lines.find((l) => l.msg === 'broker listening')
    expect(listening).toMatchObject({ part: 'broker', port: b.port })
    expect(lines.some((l) => l.msg === 'broker closed')).toBe(true)
  })
})
