/** Set-up for voice bridge tests: a fleet on its own prefix, a bridge on it, fake devices, event waits. */
import type { MqttClient } from 'mqtt'
import { Bridge } from '../../bridge/bridge.ts'
import type { HomeChange, KnownDevice } from '../../bridge/home.ts'
import { STATUS_ONLINE, createTopics, type Topics } from '../../core/topics.ts'
import { Fleet, planHome, type DeviceSpec } from '../../devices/index.ts'
import { connectClient } from '../helpers/mqtt.ts'
import type { Teardown } from '../helpers/teardown.ts'

let run = 0

export interface VoiceHomeSetup { prefix: string; topics: Topics; fleet: Fleet; bridge: Bridge }

/** The demo home (plus `extra` devices) on a prefix of its own, and a bridge that has learned it. */
export async function demoHome (url: string, teardown: Teardown, options: { extra?: DeviceSpec[]; commandTimeoutMs?: number; serve?: boolean } = {}): Promise<VoiceHomeSetup> {
  const prefix = `voice${++run}-${process.pid}`
  const topics = createTopics(prefix)
  const fleet = new Fleet([...planHome({ home: 'demo' }), ...(options.extra ?? [])], { target: { url }, prefix, seed: 7 })
  teardown.add(fleet, (f) => f.stop())
  await fleet.start()
  const bridge = teardown.add(await Bridge.start({ target: { url }, prefix, commandTimeoutMs: options.commandTimeoutMs ?? 5000, serve: options.serve ?? true }), (b) => b.stop())
  return { prefix, topics, fleet, bridge }
}

/** Resolve when the bridge's home sees a change for which `accept` holds (now, if it already holds via `now`). */
export function homeChange (bridge: Bridge, what: string, accept: (c: HomeChange) => boolean, timeoutMs = 10_000): Promise<HomeChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out after ${timeoutMs} ms waiting for the bridge to see ${what}`)) }, timeoutMs)
    const off = bridge.home.onChange((c) => { if (accept(c)) { clearTimeout(timer); off(); resolve(c) } })
  })
}

/** Wait until a known device satisfies `ok` (checked now and on every change). */
export async function deviceState (bridge: Bridge, id: string, what: string, ok: (d: KnownDevice) => boolean): Promise<void> {
  const d = bridge.home.get(id)
  if (d !== undefined && ok(d)) return
  await homeChange(bridge, `${id}: ${what}`, (c) => c.type !== 'forgotten' && c.device.id === id && ok(c.device))
}

/**
 * A speaker that is only retained `info` and `status` on the bus, answering commands as told: with a reply code,
 * or never (`silent`). For the errors a simulated speaker does not give on request (busy, updating, time-outs).
 */
export async function fakeSpeaker (url: string, topics: Topics, teardown: Teardown, spec: { id: string; name: string; room: string; answer: 'silent' | 'BUSY' | 'UPDATING' | 'INTERNAL' }): Promise<MqttClient> {
  const client = teardown.client(await connectClient(url, { clientId: spec.id }))
  teardown.add(client, async (c) => {
    // Retained state outlives the client: clear it so nothing leaks into other tests on this prefix.
    await c.publishAsync(topics.info(spec.id), '', { retain: true, qos: 1 })
    await c.publishAsync(topics.status(spec.id), '', { retain: true, qos: 1 })
  })
  await client.subscribeAsync(topics.filter('command', spec.id), { qos: 1 })
  client.on('message', (topic) => {
    const t = topics.parse(topic)
    if (t?.channel !== 'command' || spec.answer === 'silent') return
    const reply = { rid: t.rid, command: t.name, ok: false, status: 503, error: { code: spec.answer, message: `fake ${spec.answer}` } }
    client.publish(topics.reply(spec.id, t.rid), JSON.stringify(reply), { qos: 1 })
  })
  const info = { id: spec.id, kind: 'speaker', model: 'fake', room: spec.room, name: spec.name, firmware: '0.0.1', home: 'demo', commands: ['turnOn', 'turnOff', 'setVolume', 'changeVolume', 'mute', 'unmute', 'play', 'pause', 'resume', 'next', 'stop', 'say'] }
  await client.publishAsync(topics.info(spec.id), JSON.stringify(info), { retain: true, qos: 1 })
  await client.publishAsync(topics.status(spec.id), STATUS_ONLINE, { retain: true, qos: 1 })
  return client
}
