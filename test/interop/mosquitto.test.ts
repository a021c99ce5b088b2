/**
 * Interop with the reference MQTT implementation: mosquitto_sub / mosquitto_pub against our embedded broker and
 * devices, and our devices against a real mosquitto broker.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { Fleet, planFleet } from '../../devices/fleet.ts'
import { Commander } from '../../core/commander.ts'
import { createTopics } from '../../core/topics.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'
import { interopAvailable, runTool, spawnTool, startMosquitto, stopProcess } from '../helpers/mosquitto.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

const fastDemo = (): ReturnType<typeof planFleet> => planFleet({ demoHome: true, telemetryIntervalMs: { speaker: 50, band: 50, camera: 50 } })

describe.skipIf(!interopAvailable(false))('mosquitto clients against the embedded broker', () => {
  it('mosquitto_sub sees device telemetry with ts and consecutive seq', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(fastDemo(), { target: { url: broker.url! }, seed: 5 }), (f) => f.stop())
    await fleet.start()
    const sub = spawnTool('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', topics.telemetry('demo-kitchen-speaker'), '-C', '3', '-q', '1'])
    td.add(sub.proc, stopProcess)
    const lines = await sub.waitLines(3)
    const msgs = lines.map((l) => JSON.parse(l) as { ts: number; seq: number; volume: number })
    for (const m of msgs) {
      expect(typeof m.ts).toBe('number')
      expect(m.volume).toBeGreaterThanOrEqual(0)
    }
    expect(msgs[1]!.seq).toBe(msgs[0]!.seq + 1)
    expect(msgs[2]!.seq).toBe(msgs[1]!.seq + 1)
  })

  it('mosquitto_sub sees the retained online status and identity of every demo device', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(fastDemo(), { target: { url: broker.url! } }), (f) => f.stop())
    await fleet.start()
    // -C: exit after one message per device (retained ones arrive at once); -W: give up after 20 s.
    const out = await runTool('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', topics.filter('status'), '-v', '-C', String(fleet.size), '-W', '20'])
    const lines = out.stdout.trim().split('\n').sort()
    expect(lines).toHaveLength(fleet.size)
    for (const l of lines) expect(l).toMatch(/^home\/demo-[a-z-]+\/status online$/)
  })

  it('mosquitto_pub commands a device, which replies and changes state', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(fastDemo(), { target: { url: broker.url! } }), (f) => f.stop())
    await fleet.start()
    const observer = td.client(await connectClient(broker.url!))
    await observer.subscribeAsync(topics.filter('reply', 'demo-kitchen-speaker'), { qos: 1 })
    const reply = nextMessage(observer, (t) => t === topics.reply('demo-kitchen-speaker', 'mosq-1'))
    const reported = nextMessage(observer, (t, p) => t === topics.reported('demo-kitchen-speaker') && p.toString().includes('"volume":33'))
    await observer.subscribeAsync(topics.reported('demo-kitchen-speaker'), { qos: 1 })
    const pub = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', topics.command('demo-kitchen-speaker', 'setVolume', 'mosq-1'), '-m', '{"level":33}'])
    expect(pub.code).toBe(0)
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ rid: 'mosq-1', command: 'setVolume', ok: true, result: { volume: 33 } })
    expect(JSON.parse((await reported).payload.toString())).toMatchObject({ volume: 33 })

    // A payload that is not JSON: an error reply, and the device keeps serving.
    const bad = nextMessage(observer, (t) => t === topics.reply('demo-kitchen-speaker', 'mosq-2'))
    await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', topics.command('demo-kitchen-speaker', 'setVolume', 'mosq-2'), '-m', 'louder please'])
    expect(JSON.parse((await bad).payload.toString())).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } })
    const again = nextMessage(observer, (t) => t === topics.reply('demo-kitchen-speaker', 'mosq-3'))
    await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', topics.command('demo-kitchen-speaker', 'mute', 'mosq-3'), '-n'])
    expect(JSON.parse((await again).payload.toString())).toMatchObject({ ok: true, result: { muted: true } })
  })
})

describe.skipIf(!interopAvailable(true))('HomeFleet devices against a real mosquitto broker', () => {
  it('connects, answers commands and leaves an offline will when dropped', async () => {
    const mosq = td.add(await startMosquitto(), (m) => m.stop())
    const fleet = td.add(new Fleet(fastDemo(), { target: { url: mosq.url } }), (f) => f.stop())
    await fleet.start()
    const ctl = td.client(await connectClient(mosq.url))
    const commander = td.add(new Commander(ctl, topics), (c) => { c.close() })
    const r = await commander.send('demo-bedroom-speaker', 'setVolume', { level: 101 })
    expect(r).toMatchObject({ ok: false, status: 400, error: { code: 'VALUE_OUT_OF_RANGE' } })
    expect(await commander.send('demo-bedroom-speaker', 'setVolume', { level: 12 })).toMatchObject({ ok: true, result: { volume: 12 } })

    await ctl.subscribeAsync(topics.status('demo-office-speaker'), { qos: 1 })
    const offline = nextMessage(ctl, (t, p) => t === topics.status('demo-office-speaker') && p.toString() === 'offline')
    await fleet.get('demo-office-speaker')!.stop({ graceful: false })
    await offline
    const sub = await runTool('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-t', topics.status('demo-office-speaker'), '-C', '1', '-W', '10'])
    expect(sub.stdout.trim()).toBe('offline')
  })
})
