/**
 * The voice bridge over real MQTT: the embedded aedes broker on port 0, the demo fleet from devices/ as real MQTT.js
 * clients, and the bridge learning the home from the bus. Every wait is for a message or a home change.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { Bridge } from '../../bridge/bridge.ts'
import type { VoiceAnswer } from '../../bridge/voice/service.ts'
import { STATUS_OFFLINE, STATUS_ONLINE, createTopics } from '../../core/topics.ts'
import { Fleet, type DeviceSpec } from '../../devices/index.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { demoHome, deviceState, fakeSpeaker, homeChange, type VoiceHomeSetup } from './helpers.ts'

let broker: EmbeddedBroker
let url: string
const teardown = new Teardown()

beforeAll(async () => {
  broker = await createBroker({ port: 0, host: '127.0.0.1' })
  url = broker.url as string
})
afterAll(async () => { await broker.close() })

const ids = (a: VoiceAnswer): string[] => a.results.map((r) => r.deviceId).sort()
const outcomes = (a: VoiceAnswer): string[] => a.results.map((r) => `${r.deviceId}:${r.ok ? 'ok' : (r.error ?? '?')}`).sort()

describe('each intent, in English and in French', () => {
  let home: VoiceHomeSetup
  const shared = new Teardown()
  beforeAll(async () => { home = await demoHome(url, shared) })
  afterAll(async () => { await shared.run() })

  // [intent, English, French, devices meant, a check on the first result, set-up utterances]
  const cases: Array<[string, string, string, string[], (r: Record<string, unknown>) => boolean, string[]]> = [
    ['TurnOn', 'turn on the kitchen speaker', "allume l'enceinte de la cuisine", ['demo-kitchen-speaker'], (r) => r.power === true, []],
    ['TurnOff', 'turn off the garage camera', 'éteins la caméra du garage', ['demo-garage-camera'], (r) => r.power === false, []],
    ['SetVolume', 'set the office speaker to 35', 'mets le volume du bureau à 35', ['demo-office-speaker'], (r) => r.volume === 35, []],
    ['ChangeVolume', 'turn the bedroom speaker down by 10', 'baisse le son de la chambre de 10', ['demo-bedroom-speaker'], (r) => typeof r.volume === 'number', []],
    ['Mute', 'mute the kitchen', 'coupe le son de la cuisine', ['demo-kitchen-speaker'], (r) => r.muted === true, []],
    ['Unmute', 'unmute the kitchen', 'remets le son dans la cuisine', ['demo-kitchen-speaker'], (r) => r.muted === false, []],
    ['MediaPlay', 'play Nina Simone in the office', 'joue Stromae dans le bureau', ['demo-office-speaker'], (r) => r.playback === 'playing', []],
    ['MediaPause', 'pause the music in the office', 'mets la musique du bureau en pause', ['demo-office-speaker'], (r) => r.playback === 'paused', ['play music in the office']],
    ['MediaResume', 'resume the music in the office', 'reprends la musique dans le bureau', ['demo-office-speaker'], (r) => r.playback === 'playing', ['play music in the office', 'pause the office speaker']],
    ['MediaNext', 'next song in the office', 'chanson suivante dans le bureau', ['demo-office-speaker'], (r) => typeof r.track === 'string', ['play music in the office']],
    ['ShowCamera', 'show me the garden camera', 'montre-moi le jardin', ['demo-garden-camera'], (r) => typeof r.url === 'string', []],
    ['TakeSnapshot', 'take a picture of the front door', "prends une photo de l'entrée", ['demo-front-door-camera'], (r) => typeof r.image === 'string', []],
    ['SetNightMode', 'turn on night mode on the living room camera', 'active le mode nuit de la caméra du salon', ['demo-living-room-camera'], (r) => r.nightMode === 'on' || r.nightMode === true, []],
    ['GetHeartRate', "what's my heart rate", 'quel est mon rythme cardiaque', ['demo-my-band'], (r) => typeof r.heartRate === 'number', []],
    ['GetSteps', 'how many steps did I take today', "combien de pas j'ai fait aujourd'hui", ['demo-my-band'], (r) => typeof r.steps === 'number', []],
    ['GetBattery', 'how much battery does my band have', 'il reste combien de batterie à mon bracelet', ['demo-my-band'], (r) => typeof r.battery === 'number', []],
    ['FindDevice', 'find my band', 'où est mon bracelet', ['demo-my-band'], (r) => r.vibrating === true, []],
    ['SetAlarm', 'wake me up at 6:30', 'réveille-moi à 6h30', ['demo-my-band'], (r) => r.time === '06:30', []],
    ['CheckForUpdates', 'is the kitchen speaker up to date', "est-ce que l'enceinte de la cuisine est à jour", ['demo-kitchen-speaker'], (r) => r.firmware === '1.4.2', []]
  ]
  const both = cases.flatMap(([intent, en, fr, devices, check, setup]) => [
    { intent, lang: 'en', text: en, devices, check, setup },
    { intent, lang: 'fr', text: fr, devices, check, setup }
  ])

  it.each(both)('$intent ($lang): $text', async ({ intent, lang, text, devices, check, setup }) => {
    for (const s of setup) expect((await home.bridge.voice.ask(s)).outcome).toBe('done')
    const a = await home.bridge.voice.ask(text)
    expect({ intent: a.intent, lang: a.lang, outcome: a.outcome }).toEqual({ intent, lang, outcome: 'done' })
    expect(ids(a)).toEqual(devices)
    expect(check(a.results[0]?.result ?? {}), JSON.stringify(a.results[0])).toBe(true)
    expect(a.speech).not.toBe('')
  })
})

describe('the error vocabulary', () => {
  afterEach(async () => { await teardown.run() })

  it('offline: a device taken offline is reported as such, in the answer\'s language', async () => {
    const home = await demoHome(url, teardown)
    const offline = homeChange(home.bridge, 'the garage camera going offline', (c) => c.type === 'offline' && c.device.id === 'demo-garage-camera')
    await home.fleet.get('demo-garage-camera')?.stop()
    await offline
    const a = await home.bridge.voice.ask('allume la caméra du garage')
    expect(a.outcome).toBe('failed')
    expect(outcomes(a)).toEqual(['demo-garage-camera:offline'])
    expect(a.speech).toBe('Désolée, la caméra du garage est hors ligne.')
  })

  it('outOfRange: a volume of 150 is refused by the speaker', async () => {
    const home = await demoHome(url, teardown)
    const a = await home.bridge.voice.ask('set the kitchen speaker to 150')
    expect(outcomes(a)).toEqual(['demo-kitchen-speaker:outOfRange'])
    expect(a.results[0]?.replyCode).toBe('VALUE_OUT_OF_RANGE')
    expect(a.speech).toMatch(/0 to 100/)
  })

  it('ambiguous: two speakers with the same name make a re-prompt listing both', async () => {
    const twin: DeviceSpec = { id: 'demo-kitchen-speaker-2', kind: 'speaker', model: 'xiaomi.speaker.l09a', room: 'kitchen', name: 'kitchen speaker', firmware: '1.4.2', home: 'demo', telemetryIntervalMs: 10_000 }
    const home = await demoHome(url, teardown, { extra: [twin] })
    const a = await home.bridge.voice.ask('turn off the kitchen speaker')
    expect(a).toMatchObject({ outcome: 'reprompt', error: 'ambiguous', results: [] })
    expect(a.candidates?.map((c) => c.deviceId).sort()).toEqual(['demo-kitchen-speaker', 'demo-kitchen-speaker-2'])
    expect(a.speech).toMatch(/^Which one: the kitchen speaker or the kitchen speaker\?$/)
  })

  it('ambiguous: "the speaker" with no context lists every speaker', async () => {
    const home = await demoHome(url, teardown)
    const a = await home.bridge.voice.ask('turn on the speaker')
    expect(a.error).toBe('ambiguous')
    expect(a.candidates).toHaveLength(4)
  })

  it('notFound: an unknown device, and a room with nothing able to do it', async () => {
    const home = await demoHome(url, teardown)
    expect(await home.bridge.voice.ask('turn on the bathroom speaker')).toMatchObject({ outcome: 'failed', error: 'notFound', speech: "I can't find a device called bathroom speaker." })
    expect(await home.bridge.voice.ask('prends une photo de la cuisine')).toMatchObject({ outcome: 'failed', error: 'notFound' })
  })

  it('timeout: a device that never answers', async () => {
    const home = await demoHome(url, teardown, { commandTimeoutMs: 300 })
    const joined = deviceState(home.bridge, 'fake-attic-speaker', 'online', (d) => d.online)
    await fakeSpeaker(url, home.topics, teardown, { id: 'fake-attic-speaker', name: 'attic speaker', room: 'attic', answer: 'silent' })
    await joined
    const a = await home.bridge.voice.ask('mute the attic speaker')
    expect(outcomes(a)).toEqual(['fake-attic-speaker:timeout'])
    expect(a.speech).toBe("Sorry, the attic speaker didn't answer.")
  })

  it.each([['BUSY', 'busy'], ['UPDATING', 'updating'], ['INTERNAL', 'internal']] as const)('%s from the device is %s', async (code, error) => {
    const home = await demoHome(url, teardown)
    const joined = deviceState(home.bridge, 'fake-attic-speaker', 'online', (d) => d.online)
    await fakeSpeaker(url, home.topics, teardown, { id: 'fake-attic-speaker', name: 'attic speaker', room: 'attic', answer: code })
    await joined
    const a = await home.bridge.voice.ask('mute the attic speaker')
    expect(outcomes(a)).toEqual([`fake-attic-speaker:${error}`])
    expect(a.results[0]?.replyCode).toBe(code)
  })

  it('alreadyAtMax and alreadyAtMin: louder at 100, quieter at 0', async () => {
    const home = await demoHome(url, teardown)
    expect((await home.bridge.voice.ask('set the kitchen speaker to 100')).outcome).toBe('done')
    await deviceState(home.bridge, 'demo-kitchen-speaker', 'volume 100', (d) => d.reported.volume === 100)
    expect(outcomes(await home.bridge.voice.ask('louder', { from: 'demo-kitchen-speaker' }))).toEqual(['demo-kitchen-speaker:alreadyAtMax'])
    expect((await home.bridge.voice.ask('mets le volume de la cuisine à 0')).outcome).toBe('done')
    await deviceState(home.bridge, 'demo-kitchen-speaker', 'volume 0', (d) => d.reported.volume === 0)
    const a = await home.bridge.voice.ask('moins fort', { from: 'demo-kitchen-speaker' })
    expect(outcomes(a)).toEqual(['demo-kitchen-speaker:alreadyAtMin'])
    expect(a.speech).toBe("Désolée, l'enceinte de la cuisine est déjà au volume minimum.")
  })

  it('notSupported: a band cannot be turned on', async () => {
    const home = await demoHome(url, teardown)
    expect(outcomes(await home.bridge.voice.ask('turn on my band'))).toEqual(['demo-my-band:notSupported'])
  })

  it('deviceOff: a speaker that is off refuses a volume', async () => {
    const home = await demoHome(url, teardown)
    await home.bridge.voice.ask('turn off the kitchen speaker')
    const a = await home.bridge.voice.ask('set the kitchen speaker to 30')
    expect(outcomes(a)).toEqual(['demo-kitchen-speaker:deviceOff'])
  })

  it('invalidValue: pause when nothing plays', async () => {
    const home = await demoHome(url, teardown)
    expect(outcomes(await home.bridge.voice.ask('pause the office speaker'))).toEqual(['demo-office-speaker:invalidValue'])
  })

  it('notUnderstood: out of domain, nothing sent', async () => {
    const home = await demoHome(url, teardown)
    expect(await home.bridge.voice.ask('turn on the lights')).toMatchObject({ outcome: 'notUnderstood', error: 'notUnderstood', results: [], speech: "Sorry, I didn't understand that." })
  })
})

describe('put and mettre: a pause, and a request that is not this home\'s', () => {
  afterEach(async () => { await teardown.run() })

  it('"put the music on hold" pauses the speaker that heard it', async () => {
    const home = await demoHome(url, teardown)
    expect((await home.bridge.voice.ask('play music in the office')).outcome).toBe('done')
    const a = await home.bridge.voice.ask('put the music on hold', { from: 'demo-office-speaker' })
    expect(a).toMatchObject({ intent: 'MediaPause', lang: 'en', outcome: 'done' })
    expect(ids(a)).toEqual(['demo-office-speaker'])
    expect(a.results[0]?.result).toMatchObject({ playback: 'paused' })
  })

  it('"mets la table" (set the table) is not understood: nothing sent, the refusal spoken in French', async () => {
    const home = await demoHome(url, teardown)
    expect(await home.bridge.voice.ask('mets la table', { from: 'demo-kitchen-speaker' })).toMatchObject({
      intent: 'None', lang: 'fr', outcome: 'notUnderstood', error: 'notUnderstood', results: [], speech: "Désolée, je n'ai pas compris.", spoken: true
    })
  })
})

describe('context, partial success, and the home followed live', () => {
  afterEach(async () => { await teardown.run() })

  it('a request naming no room acts on the speaker that heard it, or its room, and that speaker says the answer', async () => {
    const home = await demoHome(url, teardown)
    const watcher = teardown.client(await connectClient(url))
    await watcher.subscribeAsync(home.topics.event('demo-living-room-speaker', 'spoke'), { qos: 1 })
    const spoke = nextMessage(watcher, () => true)
    const a = await home.bridge.voice.ask('montre-moi la caméra', { from: 'demo-living-room-speaker' })
    expect(ids(a)).toEqual(['demo-living-room-camera'])
    expect(a.spoken).toBe(true)
    expect(JSON.parse((await spoke).payload.toString())).toMatchObject({ text: 'Voici la caméra du salon.' })
    // The living room has a speaker and a camera: "it" is the speaker that heard it, not a question back.
    expect(ids(await home.bridge.voice.ask('turn it off', { from: 'demo-living-room-speaker' }))).toEqual(['demo-living-room-speaker'])
  })

  it('a room without a kind picks the devices there that can do it', async () => {
    const home = await demoHome(url, teardown)
    expect(ids(await home.bridge.voice.ask('turn off the living room'))).toEqual(['demo-living-room-camera', 'demo-living-room-speaker'])
    expect(ids(await home.bridge.voice.ask('mute the living room'))).toEqual(['demo-living-room-speaker'])
  })

  it('partial success is reported as such', async () => {
    const home = await demoHome(url, teardown)
    const offline = homeChange(home.bridge, 'the garage camera going offline', (c) => c.type === 'offline' && c.device.id === 'demo-garage-camera')
    await home.fleet.get('demo-garage-camera')?.stop()
    await offline
    const a = await home.bridge.voice.ask('turn off the kitchen speaker and the garage camera')
    expect(a.outcome).toBe('partial')
    expect(outcomes(a)).toEqual(['demo-garage-camera:offline', 'demo-kitchen-speaker:ok'])
    expect(a.speech).toBe('I turned off the kitchen speaker, but the garage camera is offline.')
  })

  it('learns a device that joins late, stops targeting it when it goes offline, forgets it when its info is cleared', async () => {
    const prefix = `late-${process.pid}`
    const topics = createTopics(prefix)
    const bridge = teardown.add(await Bridge.start({ target: { url }, prefix }), (b) => b.stop())
    expect(bridge.home.size).toBe(0)
    const cam = (id: string, name: string): DeviceSpec => ({ id, kind: 'camera', model: 'xiaomi.camera.c300', room: 'garage', name, firmware: '5.1.3', home: 'late', telemetryIntervalMs: 10_000 })
    const fleet = teardown.add(new Fleet([cam('late-cam-1', 'shed camera'), cam('late-cam-2', 'drive camera')], { target: { url }, prefix }), (f) => f.stop())
    // Status and info may come in either order: joined-and-online is what counts.
    const joined = deviceState(bridge, 'late-cam-1', 'online', (d) => d.online)
    await fleet.start()
    await joined
    await deviceState(bridge, 'late-cam-2', 'online', (d) => d.online)
    expect(outcomes(await bridge.voice.ask('turn off the shed camera'))).toEqual(['late-cam-1:ok'])

    const gone = homeChange(bridge, 'the shed camera offline', (c) => c.type === 'offline' && c.device.id === 'late-cam-1')
    await fleet.get('late-cam-1')?.stop()
    await gone
    expect(outcomes(await bridge.voice.ask('turn on all the cameras'))).toEqual(['late-cam-2:ok'])

    const forgotten = homeChange(bridge, 'the shed camera forgotten', (c) => c.type === 'forgotten' && c.id === 'late-cam-1')
    const client = teardown.client(await connectClient(url))
    await client.publishAsync(topics.info('late-cam-1'), '', { retain: true, qos: 1 })
    await forgotten
    expect(await bridge.voice.ask('turn on the shed camera')).toMatchObject({ error: 'notFound' })
  })
})

describe('the request and answer topics', () => {
  afterEach(async () => { await teardown.run() })

  it('any MQTT client asks on voice/requests/{rid} and gets the answer on voice/answers/{rid}; a bad payload gets an error answer', async () => {
    const home = await demoHome(url, teardown)
    const client = teardown.client(await connectClient(url))
    await client.subscribeAsync([home.topics.filter('voiceAnswer'), home.topics.bridgeStatus()], { qos: 1 })

    const bad = nextMessage(client, (t) => t === home.topics.voiceAnswer('r1'))
    await client.publishAsync(home.topics.voiceRequest('r1'), 'not json', { qos: 1 })
    expect(JSON.parse((await bad).payload.toString())).toMatchObject({ rid: 'r1', error: 'badRequest', outcome: 'notUnderstood' })

    const good = nextMessage(client, (t) => t === home.topics.voiceAnswer('r2'))
    await client.publishAsync(home.topics.voiceRequest('r2'), JSON.stringify({ utterance: 'Dis Cortana, éteins la cuisine', from: 'demo-office-speaker' }), { qos: 1 })
    const answer = JSON.parse((await good).payload.toString()) as VoiceAnswer
    expect(answer).toMatchObject({ rid: 'r2', intent: 'TurnOff', lang: 'fr', outcome: 'done', from: 'demo-office-speaker', spoken: true })
    expect(ids(answer)).toEqual(['demo-kitchen-speaker'])
  })

  it('announces itself on the retained $bridge/status, and says offline when it stops', async () => {
    const home = await demoHome(url, teardown)
    const client = teardown.client(await connectClient(url))
    const online = nextMessage(client, (t) => t === home.topics.bridgeStatus())
    await client.subscribeAsync(home.topics.bridgeStatus(), { qos: 1 })
    expect((await online).payload.toString()).toBe(STATUS_ONLINE)
    const offline = nextMessage(client, (t, p) => t === home.topics.bridgeStatus() && p.toString() === STATUS_OFFLINE)
    await home.bridge.stop()
    await offline
  })
})
