/**
 * The capability API over real MQTT: a plug-in reads a desired property outside the catalogue, reports fields,
 * subscribes to extra topics, refuses commands with UPDATING, reboots the device onto new firmware, and releases
 * its timers in stop(); plugging one in that draws its own random numbers leaves the simulation unchanged.
 */
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { ScaledClock, VirtualClock, type TimerHandle } from '../../core/clock.ts'
import { Commander } from '../../core/commander.ts'
import { FleetError } from '../../core/errors.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { CommandError } from '../../core/replies.ts'
import { createTopics, STATUS_OFFLINE, STATUS_ONLINE } from '../../core/topics.ts'
import { createDevice, type Capability, type DeviceContext, type DeviceRuntime } from '../../devices/index.ts'
import { Speaker } from '../../devices/speaker.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { runtimeFor, specFor, tick } from './helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })
const topics = createTopics()

/** The first message matching `accept`, or a rejection naming `what` after `ms`. */
function waitFor (client: MqttClient, what: string, accept: (topic: string, payload: string) => boolean, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { client.off('message', on); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    const on = (topic: string, payload: Buffer): void => {
      if (!accept(topic, payload.toString())) return
      clearTimeout(timer)
      client.off('message', on)
      resolve(payload.toString())
    }
    client.on('message', on)
  })
}

/** A stand-in for a firmware-update agent: everything a real one needs from the capability API. */
class FakeAgent implements Capability {
  readonly name = 'fake-agent'
  installing = false
  lastDesired: unknown
  files: string[] = []
  connects = 0
  started = 0
  stopped = 0
  private timer: TimerHandle | undefined
  constructor (readonly ctx: DeviceContext) {}

  readonly desired = {
    // Not in the catalogue: the raw JSON value arrives, and the capability checks it itself.
    deviceUpdate: (value: unknown) => {
      if (typeof value !== 'object' || value === null) throw new CommandError('INVALID_VALUE', '"deviceUpdate" must be an object')
      this.lastDesired = value
      this.installing = true
      this.ctx.stateChanged()
    }
  }

  beforeCommand = (command: string): void => {
    if (this.installing) throw new CommandError('UPDATING', `${this.ctx.id} is installing an update; ${command} must wait`)
  }

  subscriptions = () => [{ filter: this.ctx.topics.filter('rolloutFile'), onMessage: (topic: string) => { this.files.push(topic) } }]
  reported = (): Record<string, unknown> => ({ deviceUpdate: { agent: { state: this.installing ? 6 : 0 } } })
  start = (): void => { this.started++; this.timer = this.ctx.clock.setInterval(() => undefined, 60_000) }
  connected = (): void => { this.connects++ }
  stop = (): void => { this.stopped++; this.ctx.clock.clearTimer(this.timer); this.timer = undefined }
}

describe('capabilities', () => {
  it('plug in: a desired property outside the catalogue, reported fields, extra subscriptions, UPDATING, a reboot onto new firmware, timers released in stop()', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const obs = td.client(await connectClient(broker.url!))
    await obs.subscribeAsync(topics.all(), { qos: 1 })
    // A fast clock: the reboot's 30 s offline take 30 ms.
    const clock = new ScaledClock(1000)
    const runtime: DeviceRuntime = { target: { url: broker.url! }, topics, clock, random: new Random(3), logger: silentLogger }
    const speaker = new Speaker(specFor('speaker', { id: 'agent-host' }), runtime)
    const agent = speaker.use((ctx) => new FakeAgent(ctx))
    td.add(speaker, (d) => d.stop())
    const info = waitFor(obs, 'info', (t) => t === topics.info('agent-host'))
    await speaker.start()
    expect(agent.started).toBe(1)
    expect(() => speaker.use({ name: 'late' })).toThrow(/before start\(\)/)
    expect(JSON.parse(await info)).toMatchObject({ firmware: '1.4.2', desired: ['power', 'volume', 'muted', 'deviceUpdate'] })

    // The extra subscription was acknowledged before start() resolved: a file published now arrives.
    await obs.publishAsync(topics.rolloutFile('u1', 'fw.bin'), 'bytes', { qos: 1 })
    const ctl = td.add(new Commander(obs, topics, 5000), (c) => { c.close() })
    // A round trip on the same connection: the file message was delivered before this reply.
    expect(await ctl.send('agent-host', 'ping')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } })
    expect(agent.files).toEqual([topics.rolloutFile('u1', 'fw.bin')])

    const inProgress = waitFor(obs, 'reported state 6', (t, p) => t === topics.reported('agent-host') && p.includes('"state":6'))
    await obs.publishAsync(topics.desired('agent-host'), JSON.stringify({ deviceUpdate: { workflow: { action: 3, id: 'w1' } }, $version: 1 }), { qos: 1 })
    expect(JSON.parse(await inProgress)).toMatchObject({ deviceUpdate: { agent: { state: 6 } }, $desiredVersion: 1 })
    expect(agent.lastDesired).toEqual({ workflow: { action: 3, id: 'w1' } })

    expect(await ctl.send('agent-host', 'setVolume', { level: 10 })).toMatchObject({ ok: false, status: 503, error: { code: 'UPDATING' } })
    // UPDATING comes before argument checks: even a bad request is told to wait.
    expect(await ctl.send('agent-host', 'setVolume', { level: 'x' })).toMatchObject({ ok: false, error: { code: 'UPDATING' } })

    const offline = waitFor(obs, 'offline', (t, p) => t === topics.status('agent-host') && p === STATUS_OFFLINE)
    const online = waitFor(obs, 'online again', (t, p) => t === topics.status('agent-host') && p === STATUS_ONLINE)
    const newInfo = waitFor(obs, 'info with 2.0.0', (t, p) => t === topics.info('agent-host') && p.includes('"firmware":"2.0.0"'))
    const newReported = waitFor(obs, 'reported firmware 2.0.0', (t, p) => t === topics.reported('agent-host') && p.includes('"firmware":"2.0.0"'))
    const rebooted = agent.ctx.reboot({ offlineMs: 30_000, firmware: '2.0.0' })
    await offline
    expect(speaker.connected).toBe(false)
    await rebooted
    await Promise.all([online, newInfo, newReported])
    expect(speaker.firmware).toBe('2.0.0')
    expect(speaker.info()).toMatchObject({ firmware: '2.0.0' })
    expect(agent.connects).toBe(2)
    agent.installing = false
    expect(await ctl.send('agent-host', 'setVolume', { level: 10 })).toMatchObject({ ok: true })

    await speaker.stop()
    expect(agent.stopped).toBe(1)
    expect(clock.pending).toBe(0)
  })

  it('a reboot interrupted by stop() rejects with FLEET_ERR_CLOSED and does not come back', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const clock = new ScaledClock(1)
    const runtime: DeviceRuntime = { target: { url: broker.url! }, topics, clock, random: new Random(3), logger: silentLogger }
    let ctx: DeviceContext | undefined
    const speaker = td.add(new Speaker(specFor('speaker', { id: 'reboot-stop' }), runtime), (d) => d.stop())
    speaker.use((c) => { ctx = c; return { name: 'probe' } })
    await speaker.start()
    const rebooting = ctx!.reboot({ offlineMs: 60_000 })
    rebooting.catch(() => undefined)
    await speaker.stop()
    const err = await rebooting.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_CLOSED')
    expect(speaker.connected).toBe(false)
    expect(clock.pending).toBe(0)
  })

  it('a plug-in drawing from its own random stream leaves the simulation (and its telemetry) unchanged', () => {
    const plain = new Speaker(specFor('speaker'), runtimeFor(new VirtualClock(), 9))
    const clock = new VirtualClock()
    const plugged = new Speaker(specFor('speaker'), runtimeFor(clock, 9))
    plugged.use((ctx) => {
      const rng = ctx.fork('noise')
      return { name: 'noise', step: () => { rng.next() }, telemetry: () => ({}) }
    })
    const plainClock = new VirtualClock()
    const samples: Array<[unknown, unknown]> = []
    for (let i = 0; i < 50; i++) {
      tick(plain, plainClock)
      tick(plugged, clock)
      samples.push([plain.sample(), plugged.sample()])
    }
    for (const [a, b] of samples) expect(b).toEqual(a)
  })

  it('refuses a capability that does not fit: an unknown command, a command or property taken, a name used, or after start()', () => {
    const speaker = new Speaker(specFor('speaker'), runtimeFor(new VirtualClock()))
    expect(() => speaker.use({ name: 'x', commands: { snapshot: () => ({}) } })).toThrow(/catalogue has no speaker command "snapshot"/)
    expect(() => speaker.use({ name: 'x', commands: { mute: () => ({}) } })).toThrow(/command mute is answered by another capability/)
    expect(() => speaker.use({ name: 'x', desired: { volume: () => undefined } })).toThrow(/desired property volume/)
    expect(() => speaker.use({ name: 'media' })).toThrow(/plugged in already/)
    expect(speaker.capabilityNames()).toEqual(['power', 'media'])
  })

  it('plugs the runtime capabilities into every device createDevice makes', () => {
    const made: string[] = []
    const runtime: DeviceRuntime = { ...runtimeFor(new VirtualClock()), capabilities: [(ctx) => { made.push(ctx.id); return { name: 'agent', reported: () => ({ agent: true }) } }] }
    const band = createDevice(specFor('band'), runtime)
    const camera = createDevice(specFor('camera'), runtime)
    expect(made).toEqual(['test-band', 'test-camera'])
    expect(band.capabilityNames()).toEqual(['band', 'agent'])
    expect(camera.capabilityNames()).toEqual(['power', 'camera', 'agent'])
    expect(camera.reportedState()).toMatchObject({ power: true, agent: true })
  })

  it('setFirmware changes the reported firmware and info; a bad version is refused', () => {
    const speaker = new Speaker(specFor('speaker'), runtimeFor(new VirtualClock()))
    speaker.setFirmware('9.9.9')
    expect(speaker.firmware).toBe('9.9.9')
    expect(speaker.info()).toMatchObject({ firmware: '9.9.9' })
    expect(speaker.spec.firmware).toBe('1.4.2')
    expect(() => { speaker.setFirmware('') }).toThrow(FleetError)
  })
})
