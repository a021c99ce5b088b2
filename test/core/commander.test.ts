import { createServer, type AddressInfo, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { Commander } from '../../core/commander.ts'
import { endClient } from '../../core/mqtt-connect.ts'
import { createTopics } from '../../core/topics.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient, WAIT_TIMEOUT_MS } from '../helpers/mqtt.ts'
import { startLinkCutter } from '../helpers/net.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

/** Resolve when `what` happens (an event), reject after the wait time-out naming it. */
function until<T> (what: string, subscribe: (resolve: (value: T) => void) => void, timeoutMs = WAIT_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`waited ${timeoutMs} ms for ${what}`)) }, timeoutMs)
    subscribe((value) => { clearTimeout(timer); resolve(value) })
  })
}

describe('Commander', () => {
  it('matches each reply to its own pending request, and ignores a reply carrying a pending rid from another device', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const device = td.client(await connectClient(broker.url!))
    await device.subscribeAsync(topics.filter('command'), { qos: 1 })
    const asked: Array<{ deviceId: string; name: string; rid: string }> = []
    const bothAsked = new Promise<void>((resolve) => {
      device.on('message', (topic) => {
        const p = topics.parse(topic)
        if (p?.channel !== 'command') return
        asked.push(p)
        if (asked.length === 2) resolve()
      })
    })
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    const first = commander.send('d1', 'first', {}, 20_000)
    const second = commander.send('d1', 'second', {}, 20_000)
    await bothAsked
    const [a, b] = asked as [typeof asked[0], typeof asked[0]]
    const reply = (rid: string, name: string): string => JSON.stringify({ rid, command: name, ok: true, status: 200, result: { echoed: name } })
    // A stray: d2 answers with d1's pending rid and a result that would be wrong for it. Then the real replies,
    // the second request's before the first's.
    await device.publishAsync(topics.reply('d2', a.rid), reply(a.rid, 'stray'), { qos: 1 })
    await device.publishAsync(topics.reply('d1', b.rid), reply(b.rid, b.name), { qos: 1 })
    await device.publishAsync(topics.reply('d1', a.rid), reply(a.rid, a.name), { qos: 1 })
    expect(await first).toMatchObject({ ok: true, result: { echoed: 'first' } })
    expect(await second).toMatchObject({ ok: true, result: { echoed: 'second' } })
    expect(commander.pendingCount).toBe(0)
  })

  it('rejects a reply that is not a reply object (not JSON, or no boolean ok) with FLEET_ERR_BAD_REPLY', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const device = td.client(await connectClient(broker.url!))
    await device.subscribeAsync(topics.filter('command'), { qos: 1 })
    const answers: Record<string, string> = { junk: 'not json', number: '42', noOk: '{"status":200}' }
    device.on('message', (topic) => {
      const p = topics.parse(topic)
      if (p?.channel === 'command') void device.publishAsync(topics.reply(p.deviceId, p.rid), answers[p.name] ?? '', { qos: 1 })
    })
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    for (const name of Object.keys(answers)) {
      await expect(commander.send('d1', name, {}, 20_000), name).rejects.toMatchObject({ code: 'FLEET_ERR_BAD_REPLY', message: expect.stringContaining('is not a JSON object with a boolean "ok"') as unknown })
    }
    expect(commander.pendingCount).toBe(0)
  })

  it('is bounded by its time-out from the call, even when the broker never acknowledges the command', async () => {
    // A broker that accepts the connection and the subscription, then goes silent: no PUBACK, no reply.
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => undefined)
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }))
        if (packet.cmd === 'subscribe') socket.write(mqttPacket.generate({ cmd: 'suback', messageId: packet.messageId ?? 0, granted: packet.subscriptions.map(() => 1) }))
      })
      socket.on('data', (d: Buffer) => { parser.parse(d) })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    td.add(server, (s) => new Promise<void>((resolve) => { s.close(() => { resolve() }); for (const k of sockets) k.destroy() }))
    const ctl = td.client(await connectClient(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    const t0 = performance.now()
    await expect(commander.send('d1', 'ping', {}, 300)).rejects.toMatchObject({
      code: 'FLEET_ERR_COMMAND_TIMEOUT',
      message: 'no reply from d1 to ping within 300 ms (the broker never acknowledged the command)'
    })
    expect(performance.now() - t0).toBeLessThan(5000)
    expect(commander.pendingCount).toBe(0)
  })

  it('resend() publishes a device\'s unanswered requests again with the same request id, and only that device\'s', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const device = td.client(await connectClient(broker.url!))
    await device.subscribeAsync(topics.filter('command'), { qos: 1 })
    const seen: string[] = []
    let arrived = (): void => undefined
    device.on('message', (topic) => {
      const p = topics.parse(topic)
      if (p?.channel !== 'command') return
      seen.push(topic)
      arrived()
      // The device answers the second copy only: the first one is "lost".
      if (seen.filter((t) => t === topic).length === 2) void device.publishAsync(topics.reply(p.deviceId, p.rid), JSON.stringify({ rid: p.rid, command: p.name, ok: true, status: 200, result: {} }), { qos: 1 })
    })
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    const other = commander.send('d2', 'ping', {}, 20_000)
    other.catch(() => undefined)
    const firstTwo = new Promise<void>((resolve) => { arrived = () => { if (seen.length === 2) resolve() } })
    const reply = commander.send('d1', 'ping', {}, 20_000)
    await firstTwo
    expect(commander.resend('d1')).toBe(1)
    expect(await reply).toMatchObject({ ok: true, command: 'ping' })
    const d1 = seen.filter((t) => t.startsWith('home/d1/'))
    expect(d1).toHaveLength(2)
    expect(d1[1]).toBe(d1[0])
    expect(commander.resend('d1')).toBe(0) // answered: nothing left to send
    expect(commander.pendingCount).toBe(1) // d2's, sent once
    expect(seen.filter((t) => t.startsWith('home/d2/'))).toHaveLength(1)
  })

  it('publishes its unanswered requests again once its own connection is back, so a reply lost meanwhile comes again', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const link = td.add(await startLinkCutter(broker.port as number), (l) => l.close())
    // A device that answers every request it gets, as a device answers a repeated one: with the same reply.
    const device = td.client(await connectClient(broker.url!))
    await device.subscribeAsync(topics.filter('command'), { qos: 1 })
    const rids: string[] = []
    const ctl = td.client(await connectClient(link.url, { clientId: 'commander-under-test', reconnectPeriod: 50 }))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    const commanderGone = until<void>('the broker to see the commander\'s connection go', (resolve) => {
      broker.on('clientDisconnect', (c) => { if (c.id === 'commander-under-test') resolve() })
    })
    let answeredOnce: () => void = () => undefined
    const firstAnswered = until<void>('the device to publish its first reply', (resolve) => { answeredOnce = resolve })
    device.on('message', (topic) => {
      const p = topics.parse(topic)
      if (p?.channel !== 'command') return
      rids.push(p.rid)
      const answer = (): void => {
        device.publish(topics.reply(p.deviceId, p.rid), JSON.stringify({ rid: p.rid, command: p.name, ok: true, status: 200, result: { pong: true } }), { qos: 1 }, () => { answeredOnce() })
      }
      if (rids.length > 1) { answer(); return }
      // The first time: the commander's connection goes down before the reply is published, so the reply reaches
      // nobody; then the link comes back.
      link.cut()
      commanderGone.then(answer, () => undefined)
    })
    const reply = commander.send('d1', 'ping', {}, 15_000)
    await firstAnswered
    link.restore()
    await expect(reply).resolves.toMatchObject({ ok: true, result: { pong: true } })
    expect(rids.length).toBe(2)
    expect(rids[1]).toBe(rids[0])
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
    await commander.ready() // subscribed to replies
    await endClient(ctl)
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    // A long time-out: were its timer left behind, it would still be pending (and counted) after the rejection.
    await expect(commander.send('nobody', 'ping', {}, 60_000)).rejects.toMatchObject({ code: 'FLEET_ERR_BROKER_UNREACHABLE' })
    expect(commander.pendingCount).toBe(0)
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore)
    commander.close()
  })
})
