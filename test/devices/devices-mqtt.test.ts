/**
 * Devices over real sockets: the embedded aedes broker on port 0, one device of each kind as real MQTT.js clients,
 * and a plain MQTT.js observer. Every wait is for a message or an event, never a fixed sleep.
 */
import type { MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { ScaledClock } from '../../core/clock.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { STATUS_OFFLINE, STATUS_ONLINE, createTopics } from '../../core/topics.ts'
import { createDevice, DEVICE_KINDS, type Device, type DeviceKind, type DeviceRuntime } from '../../devices/index.ts'
import { collectMessages, connectClient, nextMessage } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { specFor } from './helpers.ts'

const topics = createTopics()
let broker: EmbeddedBroker
let url: string
const teardown = new Teardown()
let run = 0

beforeAll(async () => {
  broker = await createBroker({ port: 0, host: '127.0.0.1' })
  url = broker.url as string
})
afterAll(async () => { await broker.close() })
afterEach(async () => { await teardown.run() })

interface Started { clock: ScaledClock; devices: Record<DeviceKind, Device> }

/**
 * Start one device of each kind, each with ids unique to this test (retained messages outlive a test). No extra
 * wait: `start()` resolves only after the SUBACK, so a command sent right away must be answered (the tests below
 * do exactly that, which is what checks the guarantee).
 */
async function startDevices (): Promise<Started> {
  run++
  const clock = new ScaledClock(1)
  const runtime: DeviceRuntime = { target: { url }, topics, clock, random: new Random(7), logger: silentLogger }
  const devices = {} as Record<DeviceKind, Device>
  for (const kind of DEVICE_KINDS) {
    const device = createDevice(specFor(kind, { id: `it${run}-${kind}`, telemetryIntervalMs: 50 }), runtime)
    teardown.add(device, (d) => d.stop())
    await device.start()
    devices[kind] = device
  }
  return { clock, devices }
}

async function observer (): Promise<MqttClient> {
  return teardown.client(await connectClient(url, { clientId: `observer-${run}-${Math.random().toString(36).slice(2)}` }))
}

const json = (payload: Buffer): Record<string, unknown> => JSON.parse(payload.toString('utf8')) as Record<string, unknown>

/** Publish a command and resolve with the reply on its request id. */
async function command (client: MqttClient, deviceId: string, name: string, rid: string, payload: string): Promise<Record<string, unknown>> {
  const replyTopic = topics.reply(deviceId, rid)
  const reply = nextMessage(client, (t) => t === replyTopic)
  await client.publishAsync(topics.command(deviceId, name, rid), payload, { qos: 1 })
  return json((await reply).payload)
}

describe('devices over MQTT', () => {
  it('announce themselves with a retained online status and info', async () => {
    const { devices } = await startDevices()
    const client = await observer()
    const ids = DEVICE_KINDS.map((k) => devices[k].id)
    const got = new Map<string, { payload: Buffer; retain: boolean }>()
    const all = new Promise<void>((resolve) => {
      client.on('message', (topic, payload, packet) => {
        got.set(topic, { payload, retain: packet.retain })
        if (got.size === ids.length * 2) resolve()
      })
    })
    await client.subscribeAsync(ids.flatMap((id) => [topics.status(id), topics.info(id)]), { qos: 1 })
    await all
    for (const kind of DEVICE_KINDS) {
      const id = devices[kind].id
      expect(got.get(topics.status(id))).toEqual({ payload: Buffer.from(STATUS_ONLINE), retain: true })
      const info = got.get(topics.info(id))
      expect(info?.retain).toBe(true)
      expect(json(info?.payload ?? Buffer.from('{}'))).toMatchObject({ id, kind, model: devices[kind].spec.model, room: 'living room' })
    }
  })

  it('send telemetry with ts and consecutive seq', async () => {
    const { devices } = await startDevices()
    const client = await observer()
    const collected = DEVICE_KINDS.map(async (kind) => {
      const topic = topics.telemetry(devices[kind].id)
      const list = await collectMessages(client, (t) => t === topic, (l) => l.length === 5)
      return { kind, messages: list.map((m) => json(m.payload)) }
    })
    await client.subscribeAsync(topics.filter('telemetry'), { qos: 0 })
    const characteristic: Record<DeviceKind, string> = { speaker: 'volume', band: 'heartRate', camera: 'storageUsedMb' }
    for (const { kind, messages } of await Promise.all(collected)) {
      for (const [i, m] of messages.entries()) {
        expect(typeof m.ts).toBe('number')
        expect(Math.abs((m.ts as number) - Date.now())).toBeLessThan(60_000)
        if (i > 0) expect(m.seq).toBe((messages[i - 1]!.seq as number) + 1)
      }
      expect(messages[0]).toHaveProperty(characteristic[kind])
    }
  })

  it('answer commands on the reply topic with the request id, and survive a non-JSON payload', async () => {
    const { devices } = await startDevices()
    const client = await observer()
    await client.subscribeAsync(topics.filter('reply'), { qos: 1 })
    const speaker = devices.speaker.id
    expect(await command(client, speaker, 'setVolume', 'r-1', '{"level":33}')).toEqual({
      rid: 'r-1', command: 'setVolume', ok: true, status: 200, result: { volume: 33 }
    })
    expect(await command(client, devices.band.id, 'getBattery', 'r-2', '')).toMatchObject({ rid: 'r-2', ok: true, result: { power: true } })
    expect(await command(client, devices.camera.id, 'snapshot', 'r-3', '{}')).toMatchObject({
      rid: 'r-3', ok: true, result: { image: `snap://${devices.camera.id}/1.jpg` }
    })
    expect(await command(client, devices.band.id, 'setAlarm', 'r-4', '{"time":"25:00"}')).toMatchObject({
      rid: 'r-4', ok: false, status: 400, error: { code: 'INVALID_VALUE' }
    })

    const bad = await command(client, speaker, 'setVolume', 'r-5', 'volume up please')
    expect(bad).toMatchObject({ rid: 'r-5', command: 'setVolume', ok: false, status: 400, error: { code: 'BAD_REQUEST' } })
    expect((bad.error as { message: string }).message).toMatch(/not JSON/)
    expect(devices.speaker.counters.badPayloads).toBe(1)
    // …and the speaker keeps answering.
    expect(await command(client, speaker, 'setVolume', 'r-6', '{"level":34}')).toMatchObject({ rid: 'r-6', ok: true, result: { volume: 34 } })
  })

  it('publish events', async () => {
    const { devices } = await startDevices()
    const client = await observer()
    const topic = topics.event(devices.band.id, 'vibrated')
    const event = nextMessage(client, (t) => t === topic)
    await client.subscribeAsync([topics.filter('event', devices.band.id), topics.filter('reply', devices.band.id)], { qos: 1 })
    await command(client, devices.band.id, 'findDevice', 'f-1', '{"durationMs":2000}')
    expect(json((await event).payload)).toMatchObject({ durationMs: 2000, reason: 'findDevice', seq: 1 })
  })

  it('apply desired state (retained before start, and live) and show it in reported', async () => {
    const client = await observer()
    const next = run + 1 // the ids startDevices will use
    const bandId = `it${next}-band`
    await client.publishAsync(topics.desired(bandId), JSON.stringify({ $version: 3, alarm: '06:45' }), { qos: 1, retain: true })
    teardown.add(bandId, (id) => client.publishAsync(topics.desired(id), '', { qos: 1, retain: true }))
    const reportedBand = nextMessage(client, (t, p) => t === topics.reported(bandId) && (json(p).alarms as Array<{ time: string }>).some((a) => a.time === '06:45'))
    await client.subscribeAsync(topics.filter('reported'), { qos: 1 })

    const { devices } = await startDevices()
    expect(devices.band.id).toBe(bandId)
    const band = json((await reportedBand).payload)
    expect(band).toMatchObject({ $desiredVersion: 3, alarms: [{ time: '06:45', repeat: true, source: 'desired' }], firmware: devices.band.spec.firmware })

    const cameraId = devices.camera.id
    const reportedCamera = nextMessage(client, (t, p) => t === topics.reported(cameraId) && json(p).nightMode === 'on')
    await client.publishAsync(topics.desired(cameraId), JSON.stringify({ $version: 1, nightMode: 'on', streaming: true }), { qos: 1, retain: true })
    teardown.add(cameraId, (id) => client.publishAsync(topics.desired(id), '', { qos: 1, retain: true }))
    expect(json((await reportedCamera).payload)).toMatchObject({
      $desiredVersion: 1, nightMode: 'on', streaming: true, streamUrl: `rtsp://${cameraId}.cam.homefleet.local/live`
    })
  })

  it('leave an offline will when dropped, and a retained offline when stopped gracefully', async () => {
    const { clock, devices } = await startDevices()
    const client = await observer()
    const dropped = devices.band.id
    const stopped = devices.speaker.id
    const online = collectMessages(client, (t) => t === topics.status(dropped) || t === topics.status(stopped), (l) => l.length === 2)
    await client.subscribeAsync([topics.status(dropped), topics.status(stopped)], { qos: 1 })
    expect((await online).map((m) => m.payload.toString())).toEqual([STATUS_ONLINE, STATUS_ONLINE])

    const will = nextMessage(client, (t, p) => t === topics.status(dropped) && p.toString() === STATUS_OFFLINE)
    await devices.band.stop({ graceful: false })
    await will
    expect(devices.band.connected).toBe(false)

    const offline = nextMessage(client, (t, p) => t === topics.status(stopped) && p.toString() === STATUS_OFFLINE)
    await devices.speaker.stop()
    await offline
    await devices.camera.stop()
    // Stopped devices leave no timers behind; a late subscriber sees them offline (retained).
    expect(clock.pending).toBe(0)
    const late = await observer()
    const retained = collectMessages(late, (t) => t === topics.status(dropped) || t === topics.status(stopped), (l) => l.length === 2)
    await late.subscribeAsync([topics.status(dropped), topics.status(stopped)], { qos: 1 })
    expect((await retained).map((m) => m.payload.toString())).toEqual([STATUS_OFFLINE, STATUS_OFFLINE])
  })
})
