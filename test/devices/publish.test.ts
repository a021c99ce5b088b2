/**
 * What a device publishes, byte for byte, now that the hot path builds it by hand: the telemetry payload equals
 * `JSON.stringify({ ts, seq, ...sample })`, and a publish MQTT.js refuses is still logged at debug level (a real
 * device on the embedded broker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { ScaledClock } from '../../core/clock.ts'
import { Random } from '../../core/random.ts'
import { createTopics } from '../../core/topics.ts'
import { createDevice, type DeviceRuntime } from '../../devices/index.ts'
import { telemetryPayload } from '../../devices/device.ts'
import { Teardown } from '../helpers/teardown.ts'
import { specFor } from './helpers.ts'

describe('telemetryPayload', () => {
  const samples: Array<Record<string, unknown>> = [
    { power: true, activity: 'walk', heartRate: 92, steps: 1200, spo2: 98, battery: 71, charging: false },
    {},
    { label: 'a "quoted", {braced} value', nested: { a: [1, 2, { b: null }] } },
    { gone: undefined, kept: 1 },
    { ts: 5, power: false },
    { power: false, seq: 'mine' }
  ]
  for (const sample of samples) {
    it(`serializes ${JSON.stringify(sample)} as the spread would`, () => {
      expect(telemetryPayload(1767254400123, 42, sample)).toBe(JSON.stringify({ ts: 1767254400123, seq: 42, ...sample }))
      expect(telemetryPayload(1767254400123.5, 1, sample)).toBe(JSON.stringify({ ts: 1767254400123.5, seq: 1, ...sample }))
    })
  }
})

describe('a publish MQTT.js refuses', () => {
  let broker: EmbeddedBroker
  const teardown = new Teardown()
  beforeAll(async () => { broker = await createBroker({ port: 0, host: '127.0.0.1' }) })
  afterAll(async () => { await teardown.run(); await broker.close() })

  it('is logged at debug level with its topic and error', async () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
    const runtime: DeviceRuntime = { target: { url: broker.url as string }, topics: createTopics(), clock: new ScaledClock(1), random: new Random(3), logger }
    const device = createDevice(specFor('speaker', { id: 'publish-failed-speaker' }), runtime)
    teardown.add(device, (d) => d.stop())
    await device.start()
    // MQTT.js refuses publishes once its client is ending ('client disconnecting') while it still counts as connected:
    // end the session's client behind the device's back, then publish.
    const client = device['session']['client'] as MqttClient
    client.end()
    expect(client.connected).toBe(true)
    device['context'].publish('test/publish-failed', 'x', { qos: 0 })
    const failed = lines.find((l) => l.msg === 'publish failed')
    expect(failed).toMatchObject({ topic: 'test/publish-failed', err: 'client disconnecting', deviceId: 'publish-failed-speaker' })
  })
})
