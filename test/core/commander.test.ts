import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { Commander } from '../../core/commander.ts'
import { endClient } from '../../core/mqtt-connect.ts'
import { createTopics } from '../../core/topics.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

describe('Commander', () => {
  it('matches a reply to its request by rid, ignoring other replies', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const device = td.client(await connectClient(broker.url!))
    await device.subscribeAsync(topics.filter('command', 'd1'), { qos: 1 })
    device.on('message', (topic) => {
      const p = topics.parse(topic)
      if (p?.channel !== 'command') return
      // A stray reply for another request first, then the real one.
      void device.publishAsync(topics.reply('d1', 'someone-else'), '{"ok":true}')
      void device.publishAsync(topics.reply('d1', p.rid), JSON.stringify({ rid: p.rid, command: p.name, ok: true, status: 200, result: { echoed: p.name } }))
    })
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    expect(await commander.send('d1', 'ping')).toMatchObject({ ok: true, result: { echoed: 'ping' } })
  })

  it('times out with FLEET_ERR_COMMAND_TIMEOUT when nobody answers', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    await expect(commander.send('nobody', 'ping', {}, 100)).rejects.toMatchObject({ code: 'FLEET_ERR_COMMAND_TIMEOUT' })
  })

  it('rejects pending and later sends once closed', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const ctl = td.client(await connectClient(broker.url!))
    const commander = new Commander(ctl, topics)
    const pending = commander.send('nobody', 'ping', {}, 60_000)
    await new Promise<void>((resolve) => {
      const on = (packet: { topic: string }): void => { if (packet.topic.startsWith('home/nobody/commands/')) { broker.off('publish', on); resolve() } }
      broker.on('publish', on)
    })
    commander.close()
    await expect(pending).rejects.toMatchObject({ code: 'FLEET_ERR_CLOSED' })
    await expect(commander.send('nobody', 'ping')).rejects.toMatchObject({ code: 'FLEET_ERR_CLOSED' })
  })

  it('rejects with FLEET_ERR_BROKER_REFUSED when the broker refuses the reply subscription (SUBACK 0x80)', async () => {
    // A broker with an ACL that refuses every subscription: it answers SUBACK 0x80 [MQTT-3.9.3-2].
    const broker = td.add(await createBroker({ port: 0, authorizeSubscribe: () => false }), (b) => b.close())
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    await expect(commander.send('d1', 'ping', {}, 60_000)).rejects.toMatchObject({
      code: 'FLEET_ERR_BROKER_REFUSED',
      message: expect.stringMatching(/^the broker refused the subscription to home\/\+\/replies\/\+/) as unknown
    })
    // The connection is still there: a refusal is not an unreachable broker.
    expect(ctl.connected).toBe(true)
  })

  it('turns a publish that cannot leave into a coded error, leaving no timer behind', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const ctl = await connectClient(broker.url!)
    const commander = new Commander(ctl, topics)
    await commander.send('nobody', 'warm-up', {}, 50).catch(() => undefined) // subscribed to replies
    await endClient(ctl)
    await expect(commander.send('nobody', 'ping', {}, 50)).rejects.toMatchObject({ code: 'FLEET_ERR_BROKER_UNREACHABLE' })
    commander.close()
  })
})
