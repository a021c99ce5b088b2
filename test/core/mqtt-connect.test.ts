import { EventEmitter } from 'node:events'
import { Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { createMqttClient, reconnectWithBackoff, waitConnected } from '../../core/mqtt-connect.ts'
import { closedPort } from '../helpers/net.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { vi.restoreAllMocks(); await td.run() })

describe('createMqttClient', () => {
  it('sets TCP_NODELAY on the socket of every connection, the first and each reconnect', async () => {
    const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay')
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const target = { url: broker.url! }
    const client = td.client(createMqttClient(target, { reconnectPeriod: 50 }))
    await waitConnected(client, target)
    const first = client.stream
    expect(noDelay.mock.contexts).toContain(first)
    expect(noDelay).toHaveBeenCalledWith(true)
    // A reconnect makes a new socket, which gets it too.
    const again = new Promise<void>((resolve) => client.once('connect', () => { resolve() }))
    first.destroy()
    await again
    expect(client.stream).not.toBe(first)
    expect(noDelay.mock.contexts).toContain(client.stream)
  })

  it('puts a target\'s client id prefix before the client id', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const target = { url: broker.url!, clientIdPrefix: 'lab-home:' }
    const client = td.client(createMqttClient(target, { clientId: 'speaker-0001' }))
    await waitConnected(client, target)
    expect(client.options.clientId).toBe('lab-home:speaker-0001')
  })

  it('stops reconnecting once ended, like a client made by mqtt.connect', async () => {
    const target = { url: `mqtt://127.0.0.1:${await closedPort()}` }
    const client = createMqttClient(target, { reconnectPeriod: 20 })
    await expect(waitConnected(client, target, 5000)).rejects.toMatchObject({ code: 'FLEET_ERR_BROKER_UNREACHABLE' })
    await new Promise<void>((resolve) => { client.end(true, {}, () => { resolve() }) })
    let reconnects = 0
    client.on('reconnect', () => { reconnects++ })
    await new Promise((resolve) => setTimeout(resolve, 200)) // ten reconnect periods: none may come
    expect(reconnects).toBe(0)
  })
})

describe('reconnectWithBackoff', () => {
  it('doubles the reconnect period up to a maximum, with jitter, and starts again after a connection', () => {
    // Only the events and the option it reads: MQTT.js's own close handling would try to reconnect.
    const client = Object.assign(new EventEmitter(), { options: { reconnectPeriod: 1000 } }) as unknown as MqttClient
    let r = 0.5 // no jitter at the middle of the range
    reconnectWithBackoff(client, { initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => r })
    const periods = [client.options.reconnectPeriod]
    for (let i = 0; i < 6; i++) { client.emit('close'); periods.push(client.options.reconnectPeriod) }
    expect(periods).toEqual([100, 200, 400, 800, 1000, 1000, 1000])
    r = 0 // the low end of the jitter: half the period
    client.emit('close')
    expect(client.options.reconnectPeriod).toBe(500)
    client.emit('connect', { cmd: 'connack', returnCode: 0, sessionPresent: false })
    expect(client.options.reconnectPeriod).toBe(50)
  })
})
