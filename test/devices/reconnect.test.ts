/**
 * Devices on a flaky link: a lost connection is made again with backoff, the device subscribes again and republishes
 * its state, QoS 1 messages wait in a bounded offline queue, and reconnects and drops are counted.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { refusedStream } from '../../core/mqtt-connect.ts'
import { createTopics } from '../../core/topics.ts'
import { Fleet, planFleet } from '../../devices/fleet.ts'
import { OFFLINE_QUEUE_LIMIT } from '../../devices/session.ts'
import { collectMessages, connectClient, nextMessage } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

/** Polls `check` every 20 ms until it holds; rejects after `timeoutMs`, naming `what`. */
async function until (check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const t0 = performance.now()
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`until: waited ${timeoutMs} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('a device that loses its connection', () => {
  it('reconnects, republishes its state, sends what it queued (bounded: the oldest dropped and counted) and counts the reconnect', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    // The link: while `up` is false every connection attempt is refused, as by a broker that is down.
    let up = true
    const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'band', count: 1 }] }), {
      target: { stream: () => (up ? broker.connectInProcess() : refusedStream('link down')) },
      seed: 5
    }), (f) => f.stop())
    await fleet.start()
    const band = fleet.get('band-0001')!
    const watcher = td.client(await connectClient(broker.url!))
    await watcher.subscribeAsync(['home/band-0001/#'], { qos: 1 })

    up = false
    expect(broker.disconnect('band-0001')).toBe(true)
    await until(() => !band.connected, 'the band to see its connection gone')
    const extra = 30
    for (let i = 0; i < OFFLINE_QUEUE_LIMIT + extra; i++) band.execute('findDevice', { durationMs: 1000 + i })
    expect(band.counters.dropped).toBeGreaterThanOrEqual(extra)

    const events = collectMessages(watcher, (t) => t === topics.event('band-0001', 'vibrated'), (l) => l.length === OFFLINE_QUEUE_LIMIT, `${OFFLINE_QUEUE_LIMIT} queued vibrated events`)
    const online = nextMessage(watcher, (t, p) => t === topics.status('band-0001') && p.toString() === 'online', 'the band online again')
    const reported = nextMessage(watcher, (t) => t === topics.reported('band-0001'), 'the band\'s reported state republished')
    up = true
    await Promise.all([online, reported])
    const got = await events
    // The newest OFFLINE_QUEUE_LIMIT waited, in order; the first `extra` were dropped.
    expect(got.map((m) => (JSON.parse(m.payload.toString()) as { durationMs: number }).durationMs)).toEqual(Array.from({ length: OFFLINE_QUEUE_LIMIT }, (_, i) => 1000 + extra + i))
    expect(band.counters.reconnects).toBe(1)
    expect(fleet.counters()).toMatchObject({ reconnects: 1, online: 1 })
    // Subscribed again: it answers commands.
    const reply = nextMessage(watcher, (t) => t.startsWith('home/band-0001/replies/'), 'a reply after the reconnect')
    await watcher.publishAsync(topics.command('band-0001', 'getBattery', 'r1'), '{}', { qos: 1 })
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ ok: true })
  })

  it('announces itself online again only once the broker has acknowledged its subscriptions', async () => {
    // With a clean session the broker has no subscription for the device between its CONNACK and its SUBACK: a
    // command sent on an `online` published in between would go to nobody. The broker holds the reconnected device's
    // SUBSCRIBE until the device has published something after it (its telemetry carries on once connected), and
    // keeps what the device published from the cut until the SUBSCRIBE was let through.
    let holding = false
    let subscribeArrived = false
    const whileHeld: string[] = []
    let release = (): void => undefined
    const held = new Promise<void>((resolve) => { release = resolve })
    let subscribeHeld = (): void => undefined
    const subscribing = new Promise<void>((resolve) => { subscribeHeld = resolve })
    const broker = td.add(await createBroker({
      port: 0,
      authorizeSubscribe: async (client, sub) => {
        if (holding && client.id === 'band-0001' && sub.topic === topics.filter('command', 'band-0001')) {
          subscribeArrived = true
          subscribeHeld()
          await held
        }
        return true
      },
      authorizePublish: (client, message) => {
        if (holding && client?.id === 'band-0001') {
          whileHeld.push(`${message.topic} ${message.payload.toString().slice(0, 20)}`)
          if (subscribeArrived) release()
        }
        return true
      }
    }), (b) => b.close())
    const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'band', count: 1, telemetryIntervalMs: 50 }] }), {
      target: { stream: () => broker.connectInProcess() },
      seed: 5
    }), (f) => f.stop())
    await fleet.start()
    const watcher = td.client(await connectClient(broker.url!))
    await watcher.subscribeAsync(topics.status('band-0001'), { qos: 1 })
    const online = nextMessage(watcher, (t, p) => t === topics.status('band-0001') && p.toString() === 'online' && whileHeld.length > 0, 'the band online again, after its SUBSCRIBE was let through')

    holding = true
    expect(broker.disconnect('band-0001')).toBe(true)
    await subscribing
    await held
    holding = false
    await online
    // Something went out while the SUBSCRIBE was held (the will, telemetry), and it was not `online`.
    expect(whileHeld.filter((m) => m === `${topics.status('band-0001')} online`)).toEqual([])
    expect(whileHeld.some((m) => m.startsWith(`${topics.telemetry('band-0001')} `))).toBe(true)
    // Subscribed and announced: a command sent now is answered.
    const reply = nextMessage(watcher, (t) => t.startsWith('home/band-0001/replies/'), 'a reply after the announcement')
    await watcher.subscribeAsync('home/band-0001/replies/+', { qos: 1 })
    await watcher.publishAsync(topics.command('band-0001', 'getBattery', 'after-online'), '{}', { qos: 1 })
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ ok: true })
  })

  it('stops (gracefully) even when the broker never answers its SUBSCRIBE after a reconnect', async () => {
    let holding = false
    let subscribeHeld = (): void => undefined
    const subscribing = new Promise<void>((resolve) => { subscribeHeld = resolve })
    const broker = td.add(await createBroker({
      port: 0,
      authorizeSubscribe: (client) => {
        if (!holding || client.id !== 'band-0001') return true
        subscribeHeld()
        return new Promise<boolean>(() => undefined) // never answered
      }
    }), (b) => b.close())
    const fleet = new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'band', count: 1 }] }), { target: { stream: () => broker.connectInProcess() }, seed: 5 })
    td.add(fleet, (f) => f.stop())
    await fleet.start()
    const watcher = td.client(await connectClient(broker.url!))
    await watcher.subscribeAsync(topics.status('band-0001'), { qos: 1 })
    holding = true
    expect(broker.disconnect('band-0001')).toBe(true)
    await subscribing
    const offline = nextMessage(watcher, (t, p) => t === topics.status('band-0001') && p.toString() === 'offline', 'the band\'s offline status on stop')
    // MQTT.js's graceful end waits for every acknowledgement, the SUBACK too: the session must not wait for it.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([fleet.stop(), new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('waited 20000 ms for the fleet to stop')) }, 20_000) })])
    clearTimeout(timer)
    await offline
    expect(fleet.get('band-0001')!.connected).toBe(false)
  })

  it('does not run a repeated request (same command, same request id) a second time, and answers it with the same reply', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: 1 }] }), { target: { stream: () => broker.connectInProcess() } }), (f) => f.stop())
    await fleet.start()
    const speaker = fleet.get('speaker-0001')!
    const watcher = td.client(await connectClient(broker.url!))
    await watcher.subscribeAsync('home/speaker-0001/replies/+', { qos: 1 })
    const replies: Array<[string, string]> = []
    watcher.on('message', (t, p) => { replies.push([t, p.toString()]) })
    const first = nextMessage(watcher, (t) => t === topics.reply('speaker-0001', 'a'), 'the reply to request a')
    await watcher.publishAsync(topics.command('speaker-0001', 'setVolume', 'a'), '{"level":20}', { qos: 1 })
    await first
    // Between the two: a change the repeat must not undo (were it run again, the volume would go back to 20).
    const between = nextMessage(watcher, (t) => t === topics.reply('speaker-0001', 'b'), 'the reply to request b')
    await watcher.publishAsync(topics.command('speaker-0001', 'setVolume', 'b'), '{"level":25}', { qos: 1 })
    await between
    // Sent again (a controller unsure it arrived, or that lost the reply): answered again, the same, and not run.
    const again = nextMessage(watcher, (t) => t === topics.reply('speaker-0001', 'a'), 'the second reply to request a')
    await watcher.publishAsync(topics.command('speaker-0001', 'setVolume', 'a'), '{"level":20}', { qos: 1 })
    await again
    expect(replies.map(([t]) => t)).toEqual([topics.reply('speaker-0001', 'a'), topics.reply('speaker-0001', 'b'), topics.reply('speaker-0001', 'a')])
    expect(replies[2]?.[1]).toBe(replies[0]?.[1])
    expect(speaker.counters).toMatchObject({ commandsHandled: 2, repeatedRequests: 1 })
    expect(speaker.reportedState()).toMatchObject({ volume: 25 })
  })
})

describe('a fleet and its devices, beyond the happy path', () => {
  it('paces connections: n devices at connectRate r take at least (n - 1) / r seconds to come online', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const n = 20
    const rate = 10
    const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'camera', count: n }] }), { target: { stream: () => broker.connectInProcess() }, connectRate: rate }), (f) => f.stop())
    // A lower bound only: a slow machine takes longer, never shorter.
    const { ms } = await fleet.start()
    expect(ms).toBeGreaterThanOrEqual(((n - 1) / rate) * 1000 - 5)
  })

  it('ignores a desired state whose $version is not newer than the last applied one', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: 1 }] }), { target: { stream: () => broker.connectInProcess() } }), (f) => f.stop())
    await fleet.start()
    const ctl = td.client(await connectClient(broker.url!))
    await ctl.subscribeAsync(topics.reported('speaker-0001'), { qos: 1 })
    const seen: Array<Record<string, unknown>> = []
    ctl.on('message', (t, p) => { if (t === topics.reported('speaker-0001')) seen.push(JSON.parse(p.toString()) as Record<string, unknown>) })
    const at = (v: number): Promise<unknown> => nextMessage(ctl, (t, p) => t === topics.reported('speaker-0001') && p.toString().includes(`"$desiredVersion":${v}`), `reported $desiredVersion ${v}`)
    const five = at(5)
    await ctl.publishAsync(topics.desired('speaker-0001'), JSON.stringify({ power: true, volume: 40, $version: 5 }), { qos: 1 })
    await five
    // A stale one (an older controller, a retained state from before), then a newer one.
    const six = at(6)
    await ctl.publishAsync(topics.desired('speaker-0001'), JSON.stringify({ volume: 10, $version: 4 }), { qos: 1 })
    await ctl.publishAsync(topics.desired('speaker-0001'), JSON.stringify({ volume: 41, $version: 6 }), { qos: 1 })
    await six
    expect(seen.some((r) => r.volume === 10)).toBe(false)
    expect(fleet.get('speaker-0001')!.reportedState()).toMatchObject({ volume: 41 })
  })
})
