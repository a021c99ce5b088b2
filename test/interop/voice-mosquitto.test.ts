/**
 * The voice bridge against a real mosquitto: the demo fleet and the bridge both on mosquitto, and Cortana asked with
 * mosquitto_pub while mosquitto_sub reads the answer: the bridge depends on nothing of our broker.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Bridge } from '../../bridge/bridge.ts'
import type { VoiceAnswer } from '../../bridge/voice/service.ts'
import { createTopics } from '../../core/topics.ts'
import { Fleet, planHome } from '../../devices/index.ts'
import { interopAvailable, runTool, spawnTool, startMosquitto, stopProcess } from '../helpers/mosquitto.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe.skipIf(!interopAvailable(true))('the voice bridge on a real mosquitto', () => {
  it('learns the demo home, carries out a French request from mosquitto_pub and answers on the answer topic', async () => {
    const mosq = td.add(await startMosquitto(), (m) => m.stop())
    const target = { url: mosq.url }
    const topics = createTopics()
    const fleet = td.add(new Fleet(planHome({ home: 'demo' }), { target, seed: 3 }), (f) => f.stop())
    await fleet.start()
    const bridge = td.add(await Bridge.start({ target }), (b) => b.stop())
    expect(bridge.home.size).toBe(9)

    const direct = await bridge.voice.ask('set the kitchen speaker to 42')
    expect(direct).toMatchObject({ outcome: 'done', results: [{ deviceId: 'demo-kitchen-speaker', ok: true, result: { volume: 42 } }] })

    // The bridge's retained status comes first, which proves mosquitto_sub is subscribed before we ask.
    const sub = spawnTool('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-t', topics.bridgeStatus(), '-t', topics.voiceAnswer('mosq-1'), '-C', '2', '-q', '1'])
    td.add(sub.proc, (p) => stopProcess(p))
    expect(await sub.waitLines(1)).toEqual(['online'])
    const pub = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', topics.voiceRequest('mosq-1'), '-m', JSON.stringify({ utterance: 'Dis Cortana, coupe le son du salon', from: 'demo-office-speaker' })])
    expect(pub.code).toBe(0)
    const line = (await sub.waitLines(2))[1]
    const answer = JSON.parse(line as string) as VoiceAnswer
    expect(answer).toMatchObject({ rid: 'mosq-1', intent: 'Mute', lang: 'fr', outcome: 'done', spoken: true })
    expect(answer.results.map((r) => r.deviceId)).toEqual(['demo-living-room-speaker'])
  })
})
