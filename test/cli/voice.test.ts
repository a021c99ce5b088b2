import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { main } from '../../cli/main.ts'
import { endClient } from '../../core/mqtt-connect.ts'
import { createTopics } from '../../core/topics.ts'
import { Fleet, planHome } from '../../devices/index.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'
import { closedPort } from '../helpers/net.ts'
import { testIo } from './helpers.ts'

describe('fleet voice parse', () => {
  it('prints the intent, slots with their words, and the template', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', 'Hey Cortana, turn the kitchen speaker down by 20'], io)).toBe(0)
    expect(io.out.text).toMatch(/^ChangeVolume {2}\(en, confidence 1\)/)
    expect(io.out.text).toContain('delta   -20  ← "20"')
    expect(io.out.text).toContain('device  "kitchen speaker"  ← "kitchen speaker"')
  })

  it('--json prints the contract fields, time as HH:MM', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', '--json', 'Dis Cortana, réveille-moi à 7 heures et quart'], io)).toBe(0)
    const p = JSON.parse(io.out.text) as Record<string, unknown>
    expect(p).toMatchObject({ intent: 'SetAlarm', lang: 'fr', slots: { time: '07:15' }, confidence: 1 })
  })

  it('--lang fr understands only French', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', '--json', '--lang', 'fr', 'turn off the kitchen'], io)).toBe(0)
    expect(JSON.parse(io.out.text)).toMatchObject({ intent: 'None', lang: 'fr' })
  })

  it('without an utterance reads stdin: one JSON line per utterance, in order, blank lines skipped', async () => {
    const io = { ...testIo(), stdin: Readable.from(['turn on the lights\n\nmute the kitchen\n', 'joue du jazz\n']) }
    expect(await main(['voice', 'parse'], io)).toBe(0)
    const lines = io.out.lines.map((l) => JSON.parse(l) as { intent: string; text: string })
    expect(lines.map((l) => [l.text, l.intent])).toEqual([['turn on the lights', 'None'], ['mute the kitchen', 'Mute'], ['joue du jazz', 'MediaPlay']])
  })

  it('an unknown action is bad usage (exit 2)', async () => {
    const io = testIo()
    expect(await main(['voice', 'hear', 'x'], io)).toBe(2)
    expect(io.err.text).toContain('unknown action "hear"')
  })
})

describe('fleet voice say and fleet bridge, against a running fleet', () => {
  let broker: EmbeddedBroker
  let fleet: Fleet
  beforeAll(async () => {
    broker = await createBroker({ port: 0, host: '127.0.0.1' })
    fleet = new Fleet(planHome({ home: 'demo' }), { target: { url: broker.url as string }, prefix: 'clivoice' })
    await fleet.start()
  })
  afterAll(async () => { await fleet.stop(); await broker.close() })

  it('say carries the utterance out, prints the answer and each device, exit 0', async () => {
    const io = testIo()
    expect(await main(['voice', 'say', 'turn off all the cameras', '--broker', broker.url as string, '--prefix', 'clivoice'], io)).toBe(0)
    expect(io.out.lines[0]).toBe('I turned off the front door camera, the garage camera, the garden camera and the living room camera.')
    expect(io.out.text).toContain('✓ demo-garage-camera turnOff: ok')
  })

  it('say --from: the speaker that heard it is the target and speaks; --json prints the answer', async () => {
    const io = testIo()
    expect(await main(['voice', 'say', 'plus fort', '--from', 'demo-office-speaker', '--json', '--broker', broker.url as string, '--prefix', 'clivoice'], io)).toBe(0)
    expect(JSON.parse(io.out.text)).toMatchObject({ intent: 'ChangeVolume', lang: 'fr', outcome: 'done', spoken: true, results: [{ deviceId: 'demo-office-speaker', ok: true }] })
  })

  it('say exits 1 when nothing could be done: not understood, or a question back', async () => {
    for (const utterance of ['turn on the lights', 'turn on the speaker']) {
      const io = testIo()
      expect(await main(['voice', 'say', utterance, '--broker', broker.url as string, '--prefix', 'clivoice'], io)).toBe(1)
    }
  })

  it('say exits 3 when the broker is unreachable, 2 without an utterance', async () => {
    const io = testIo()
    expect(await main(['voice', 'say', 'louder', '--broker', `mqtt://127.0.0.1:${await closedPort()}`, '--connect-timeout', '2s'], io)).toBe(3)
    expect(io.err.text).toContain('FLEET_ERR_BROKER_UNREACHABLE')
    expect(await main(['voice', 'say'], testIo())).toBe(2)
  })

  it('parse --broker knows the names of a running fleet', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', '--json', 'turn off the garden camera', '--broker', broker.url as string, '--prefix', 'clivoice'], io)).toBe(0)
    expect(JSON.parse(io.out.text)).toMatchObject({ intent: 'TurnOff', slots: { device: 'garden camera' } })
  })

  it('fleet bridge serves the request topic until stopped, exit 0', async () => {
    const io = testIo()
    const running = main(['bridge', '--broker', broker.url as string, '--prefix', 'clivoice', '--json-logs'], io)
    await io.out.waitFor(/bridge online/)
    const topics = createTopics('clivoice')
    const client = await connectClient(broker.url as string)
    try {
      await client.subscribeAsync(topics.voiceAnswer('cli-1'), { qos: 1 })
      const answer = nextMessage(client, () => true)
      await client.publishAsync(topics.voiceRequest('cli-1'), JSON.stringify({ utterance: 'mute the bedroom' }), { qos: 1 })
      expect(JSON.parse((await answer).payload.toString())).toMatchObject({ rid: 'cli-1', intent: 'Mute', outcome: 'done' })
    } finally {
      await endClient(client)
    }
    io.controller.abort()
    expect(await running).toBe(0)
  })
})
