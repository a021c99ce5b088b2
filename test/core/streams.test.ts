import { afterEach, describe, expect, it } from 'vitest'
import { firstValueFrom, take, toArray } from 'rxjs'
import { createBroker } from '../../broker/index.ts'
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
    const subscribed = new Promise<void>((resolve) => { broker.aedes.once('subscribe', () => { resolve() }) })
    const unsubscribed = new Promise<string[]>((resolve) => { broker.aedes.once('unsubscribe', (topics: string[]) => { resolve(topics) }) })
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

  it('abortion emits once the signal fires', async () => {
    const ac = new AbortController()
    const fired = firstValueFrom(abortion(ac.signal))
    ac.abort(new Error('stop'))
    expect(await fired).toBeInstanceOf(Error)
    expect(await firstValueFrom(abortion(ac.signal))).toBeInstanceOf(Error) // already aborted
  })
})
