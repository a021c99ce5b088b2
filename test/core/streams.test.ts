import { afterEach, describe, expect, it } from 'vitest'
import { firstValueFrom, take, toArray } from 'rxjs'
import { createBroker } from '../../broker/index.ts'
import { FleetError } from '../../core/errors.ts'
import { abortion, mqttMessages } from '../../core/streams.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('mqttMessages', () => {
  it('subscribes on subscribe, emits only matching messages, and unsubscribes when the stream ends', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const sub = td.client(await connectClient(broker.url!))
    const pub = td.client(await connectClient(broker.url!))
    await sub.subscribeAsync('other/#') // a subscription of the client's own that the stream must not leak
    const subscribed = new Promise<void>((resolve) => { broker.once('subscribe', () => { resolve() }) })
    const unsubscribed = new Promise<string[]>((resolve) => { broker.once('unsubscribe', (topics: string[]) => { resolve(topics) }) })
    const three = firstValueFrom(mqttMessages(sub, ['home/+/telemetry']).pipe(take(3), toArray()))
    await subscribed
    for (let i = 1; i <= 4; i++) {
      await pub.publishAsync('other/x', 'noise', { qos: 1 })
      await pub.publishAsync(`home/d${i}/telemetry`, String(i), { qos: 1 })
    }
    const got = await three
    expect(got.map((m) => `${m.topic}=${m.payload.toString()}`)).toEqual(['home/d1/telemetry=1', 'home/d2/telemetry=2', 'home/d3/telemetry=3'])
    expect(await unsubscribed).toEqual(['home/+/telemetry'])
    expect(sub.listenerCount('message')).toBe(0)
  })

  it('errors with FLEET_ERR_BROKER_REFUSED naming only the filters the broker refused (SUBACK 0x80)', async () => {
    const broker = td.add(await createBroker({ port: 0, authorizeSubscribe: (_client, sub) => !sub.topic.endsWith('/log') }), (b) => b.close())
    const sub = td.client(await connectClient(broker.url!))
    const err: unknown = await firstValueFrom(mqttMessages(sub, ['home/+/info', 'home/+/log'])).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect(err).toMatchObject({ code: 'FLEET_ERR_BROKER_REFUSED', exitCode: 3 })
    expect((err as Error).message).toMatch(/^the broker refused a subscription to home\/\+\/log \(/)
    expect(sub.listenerCount('message')).toBe(0)
  })

  it('survives a connection closed before the SUBACK: the client resubscribes after reconnecting', async () => {
    let attempts = 0
    // The first SUBSCRIBE makes the broker close the connection (a hook that throws closes that client); later ones pass.
    const authorizeSubscribe = (): boolean => { if (++attempts === 1) throw new Error('closing this connection'); return true }
    const broker = td.add(await createBroker({ port: 0, authorizeSubscribe }), (b) => b.close())
    const sub = td.client(await connectClient(broker.url!, { reconnectPeriod: 20 }))
    const pub = td.client(await connectClient(broker.url!))
    const reconnected = new Promise<void>((resolve) => { sub.once('reconnect', () => { resolve() }) })
    const resubscribed = new Promise<void>((resolve) => { broker.once('subscribe', () => { resolve() }) })
    const first = firstValueFrom(mqttMessages(sub, ['home/+/log']))
    await reconnected
    await resubscribed
    await pub.publishAsync('home/d1/log', 'after the drop', { qos: 1 })
    const m = await first
    expect(m.payload.toString()).toBe('after the drop')
    expect(attempts).toBe(2)
  })

  it('still errors on a lost SUBSCRIBE when the client will not reconnect', async () => {
    const broker = td.add(await createBroker({ port: 0, authorizeSubscribe: () => { throw new Error('closing this connection') } }), (b) => b.close())
    const sub = td.client(await connectClient(broker.url!)) // reconnectPeriod 0
    await expect(firstValueFrom(mqttMessages(sub, ['home/+/log']))).rejects.toThrow(/Connection closed/)
  })

  it('abortion emits once the signal fires', async () => {
    const ac = new AbortController()
    const fired = firstValueFrom(abortion(ac.signal))
    ac.abort(new Error('stop'))
    expect(await fired).toBeInstanceOf(Error)
    expect(await firstValueFrom(abortion(ac.signal))).toBeInstanceOf(Error) // already aborted
  })
})
