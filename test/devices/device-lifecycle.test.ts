/**
 * The device runtime's promises over real sockets: commands right after start(), a refused subscription, a
 * reconnect after the broker drops the device, desired state applied in the kind's order, and a bug in a kind's
 * simulation contained.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { Commander } from '../../core/commander.ts'
import { ScaledClock, VirtualClock } from '../../core/clock.ts'
import { FleetError } from '../../core/errors.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { createTopics, STATUS_ONLINE } from '../../core/topics.ts'
import { Speaker } from '../../devices/speaker.ts'
import type { DeviceRuntime } from '../../devices/device.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { runtimeFor, specFor } from './helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()
const runtime = (url: string, over: Partial<DeviceRuntime> = {}): DeviceRuntime =>
  ({ target: { url }, topics, clock: new ScaledClock(1), random: new Random(1), logger: silentLogger, ...over })

describe('device lifecycle', () => {
  it('answers a command sent the moment start() resolves (start waits for the SUBACK)', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, topics, 5000), (c) => { c.close() })
    for (let i = 0; i < 20; i++) {
      const speaker = td.add(new Speaker(specFor('speaker', { id: `quick-${i}` }), runtime(broker.url!)), (d) => d.stop())
      await speaker.start()
      expect(await commander.send(speaker.id, 'setVolume', { level: i })).toMatchObject({ ok: true, result: { volume: i } })
    }
  })

  it('rejects start() when the broker refuses the subscription (SUBACK 0x80), instead of hanging', async () => {
    // A broker with an ACL that refuses every subscription, as mosquitto or EMQX would.
    const broker = td.add(await createBroker({ port: 0, authorizeSubscribe: () => false }), (b) => b.close())
    const url = broker.url!
    const clock = new ScaledClock(1)
    const speaker = new Speaker(specFor('speaker', { id: 'acl-refused' }), runtime(url, { clock, connectTimeoutMs: 20_000 }))
    const err = await speaker.start().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_BROKER_REFUSED')
    expect((err as FleetError).message).toMatch(/acl-refused: the broker refused the subscription to home\/acl-refused\/commands\/\+\/\+/)
    expect(speaker.connected).toBe(false)
    // The CONNACK had started telemetry; a failed start() must not leave its timers behind.
    expect(clock.pending).toBe(0)
  })

  it('rejects start() with the stop error when stop() runs during start(), leaving no unhandled rejection', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    td.add(onUnhandled, (fn) => process.off('unhandledRejection', fn))
    const clock = new ScaledClock(1)
    const speaker = new Speaker(specFor('speaker', { id: 'stopped-early' }), runtime(broker.url!, { clock }))
    const starting = speaker.start()
    const stopping = speaker.stop()
    const err = await starting.catch((e: unknown) => e)
    await stopping
    // Node reports unhandled rejections after the microtask queue drains: give it one turn of the event loop.
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_CLOSED')
    expect(unhandled).toEqual([])
    expect(speaker.connected).toBe(false)
    expect(clock.pending).toBe(0)
  })

  it('publishes reported state only when it changed: a no-op command publishes nothing, a change publishes once', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const obs = td.client(await connectClient(broker.url!))
    const speaker = td.add(new Speaker(specFor('speaker', { id: 'dedup' }), runtime(broker.url!)), (d) => d.stop())
    await speaker.start()
    const reported: Array<Record<string, unknown>> = []
    obs.on('message', (t, p, packet) => { if (t === topics.reported('dedup') && !packet.retain) reported.push(JSON.parse(p.toString()) as Record<string, unknown>) })
    await obs.subscribeAsync(topics.reported('dedup'), { qos: 1 })
    const ctl = td.add(new Commander(obs, topics), (c) => { c.close() })
    const volume = speaker.volume === 10 ? 11 : 10
    // A speaker is on at start: turnOn changes nothing, and neither does setting the volume it already has.
    expect(await ctl.send('dedup', 'turnOn')).toMatchObject({ ok: true })
    expect(await ctl.send('dedup', 'setVolume', { level: speaker.volume })).toMatchObject({ ok: true })
    const changed = nextMessage(obs, (t, p) => t === topics.reported('dedup') && p.toString().includes(`"volume":${volume},`))
    expect(await ctl.send('dedup', 'setVolume', { level: volume })).toMatchObject({ ok: true })
    await changed
    // One device's messages arrive in order, so a reported message from either no-op would have come first.
    expect(reported).toHaveLength(1)
    expect(reported[0]).toMatchObject({ power: true, volume })
  })

  it('comes back online after the broker drops it, with telemetry seq carrying on', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const obs = td.client(await connectClient(broker.url!))
    const speaker = td.add(new Speaker(specFor('speaker', { id: 'drops', telemetryIntervalMs: 30 }), runtime(broker.url!)), (d) => d.stop())
    await obs.subscribeAsync([topics.telemetry('drops'), topics.status('drops')], { qos: 1 })
    await speaker.start()
    const seqs: number[] = []
    obs.on('message', (t, p) => { if (t === topics.telemetry('drops')) seqs.push((JSON.parse(p.toString()) as { seq: number }).seq) })
    await nextMessage(obs, (t) => t === topics.telemetry('drops'))
    const backOnline = new Promise<void>((resolve) => {
      broker.on('clientConnect', (c) => { if (c.id === 'drops') resolve() })
    })
    // Drop the device's connection from the broker side, as a broker restart or a network cut would.
    const seqBefore = speaker.seq
    const offline = nextMessage(obs, (t, p) => t === topics.status('drops') && p.toString() === 'offline')
    expect(broker.disconnect('drops')).toBe(true)
    await offline // the will
    await backOnline
    await nextMessage(obs, (t, p) => t === topics.status('drops') && p.toString() === STATUS_ONLINE)
    await nextMessage(obs, (t, p) => t === topics.telemetry('drops') && (JSON.parse(p.toString()) as { seq: number }).seq > seqBefore + 1)
    // seq never restarts: sequence numbers only grow across the reconnect.
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!)
    expect(speaker.connected).toBe(true)
  })

  it('applies desired properties in the kind order, whatever the payload order', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const obs = td.client(await connectClient(broker.url!))
    const speaker = td.add(new Speaker(specFor('speaker', { id: 'twin-order' }), runtime(broker.url!)), (d) => d.stop())
    await speaker.start()
    const ctl = td.add(new Commander(obs, topics), (c) => { c.close() })
    expect(await ctl.send('twin-order', 'turnOff')).toMatchObject({ ok: true })
    await obs.subscribeAsync(topics.reported('twin-order'), { qos: 1 })
    const applied = nextMessage(obs, (t, p) => t === topics.reported('twin-order') && p.toString().includes('"$desiredVersion":3'))
    await obs.publishAsync(topics.desired('twin-order'), JSON.stringify({ volume: 30, power: true, colour: 'red', $version: 3 }), { qos: 1, retain: true })
    const reported = JSON.parse((await applied).payload.toString()) as Record<string, unknown>
    expect(reported).toMatchObject({ power: true, volume: 30 })
    expect(reported.$desiredErrors).toEqual({ colour: 'NOT_SUPPORTED: speaker has no desired property "colour"' })
    await obs.publishAsync(topics.desired('twin-order'), '', { qos: 1, retain: true })
  })

  it('contains a bug in a kind simulation: the tick is logged and counted, the device keeps running', () => {
    class BrokenSpeaker extends Speaker {
      protected override step (): void { throw new Error('boom') }
    }
    const clock = new VirtualClock()
    const speaker = new BrokenSpeaker(specFor('speaker'), runtimeFor(clock))
    expect(() => { speaker.sendTelemetry() }).not.toThrow()
    expect(speaker.counters.internalErrors).toBe(1)
    expect(speaker.execute('setVolume', { level: 5 })).toMatchObject({ ok: true })
  })
})
