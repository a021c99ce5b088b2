/**
 * Back-to-back publishing over the in-process transport: a device that publishes faster than the broker reads fills
 * its duplex pair, and every byte must still reach aedes' parser once, in order. (A burst of a few hundred to a
 * thousand publishes used to stall the connection: see broker/duplex-pair.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { createMqttClient, waitConnected } from '../../core/mqtt-connect.ts'
import type { MqttClient } from 'mqtt'
import { Teardown } from '../helpers/teardown.ts'
import { collectMessages } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

async function inProcessClient (broker: EmbeddedBroker, clientId: string): Promise<MqttClient> {
  const target = { stream: () => broker.connectInProcess() }
  const client = td.client(createMqttClient(target, { clientId, reconnectPeriod: 0 }))
  // Back-to-back publishes wait for 'drain' once each (MQTT.js), thousands of listeners at a time by design here.
  client.setMaxListeners(0)
  await waitConnected(client, target)
  return client
}

describe('in-process transport under a burst of publishes', () => {
  for (const qos of [0, 1] as const) {
    it(`delivers 5,000 back-to-back QoS ${qos} publishes from one in-process client, in order, on the same connection`, async () => {
      const broker = td.add(await createBroker({ port: 0, tcp: false }), (b) => b.close())
      const sub = await inProcessClient(broker, 'burst-sub')
      await sub.subscribeAsync('burst/#', { qos: 1 })
      const pub = await inProcessClient(broker, 'burst-pub')
      pub.stream.setMaxListeners(0)
      const n = 5000
      const got = collectMessages(sub, (t) => t === 'burst/x', (list) => list.length === n, `${n} QoS ${qos} messages on burst/x`)
      // Telemetry-sized payloads, all handed to the client in one turn of the event loop.
      const pad = 'x'.repeat(120)
      for (let i = 1; i <= n; i++) pub.publish('burst/x', JSON.stringify({ seq: i, pad }), { qos })
      const seqs = (await got).map((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq)
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1))
      // The publisher's connection survived the burst (no protocol error, no reconnect) and still works.
      const stats = broker.stats()
      expect(stats.clientErrors).toBe(0)
      expect(stats.connectionsTotal).toBe(2)
      expect(pub.connected).toBe(true)
      await pub.publishAsync('burst/x', 'after', { qos: 1 })
    })
  }
})
