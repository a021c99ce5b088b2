/**
 * No MaxListenersExceededWarning on a connection, whatever the broker's `concurrency`: aedes sets each connection's
 * listener limit to `concurrency * 2`, and a TCP socket has three `end` listeners before its first packet (Node's
 * own, aedes' and end-of-stream's), so `concurrency: 1` warned once per connection.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { createMqttClient, waitConnected } from '../../core/mqtt-connect.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('a connection to the embedded broker', () => {
  it('raises no MaxListenersExceededWarning with concurrency 1, over TCP or in process', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { warnings.push(w) }
    process.on('warning', onWarning)
    td.add(onWarning, (f) => { process.off('warning', f) })
    const b = td.add(await createBroker({ port: 0, host: '127.0.0.1', concurrency: 1 }), (x) => x.close())
    const tcp = td.client(await connectClient(b.url as string))
    const target = { stream: () => b.connectInProcess() }
    const inproc = td.client(createMqttClient(target, { clientId: 'inproc', reconnectPeriod: 0 }))
    await waitConnected(inproc, target, 5000)
    await tcp.subscribeAsync('t', { qos: 1 })
    const got = nextMessage(tcp, (topic) => topic === 't', 'the in-process client\'s message on t')
    await inproc.publishAsync('t', 'x', { qos: 1 })
    await got
    // process.emitWarning emits on the next tick: let any pending warning out before looking.
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([])
  })
})
