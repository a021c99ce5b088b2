import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { DEFAULT_STREAM_QUALITY, STORAGE_CAPACITY_MB, STREAM_BITRATES_MBPS, infraredOn, motionRatePerHour } from '../../devices/camera.ts'
import { localHour } from '../../devices/local-time.ts'
import { RecordingCamera, START, at, codeOf, runtimeFor, specFor, tick } from './helpers.ts'

function makeCamera (options: { seed?: number; room?: string; start?: number; intervalMs?: number } = {}): { camera: RecordingCamera; clock: VirtualClock } {
  const clock = new VirtualClock(options.start ?? START)
  const spec = specFor('camera', { room: options.room ?? 'garden', telemetryIntervalMs: options.intervalMs ?? 15_000 })
  return { camera: new RecordingCamera(spec, runtimeFor(clock, options.seed ?? 1)), clock }
}

describe('Camera commands', () => {
  it('turnOff and turnOn switch power; turnOff stops the stream; both are idempotent', () => {
    const { camera } = makeCamera()
    camera.execute('startStream', {})
    expect(camera.execute('turnOff', {})).toMatchObject({ ok: true, result: { power: false } })
    expect(camera.streaming).toBe(false)
    expect(camera.execute('turnOff', {})).toMatchObject({ ok: true, result: { power: false } })
    expect(camera.execute('turnOn', {})).toMatchObject({ ok: true, result: { power: true } })
    expect(camera.execute('turnOn', {})).toMatchObject({ ok: true, result: { power: true } })
    expect(camera.reportedState()).toMatchObject({ power: true, streaming: false, streamUrl: null })
  })

  it('startStream gives the stream URL and quality; stopStream ends it', () => {
    const { camera } = makeCamera()
    expect(camera.execute('startStream', {})).toEqual({
      command: 'startStream', ok: true, status: 200,
      result: { streaming: true, url: 'rtsp://test-camera.cam.homefleet.local/live', quality: DEFAULT_STREAM_QUALITY }
    })
    expect(camera.execute('startStream', { quality: '720p' })).toMatchObject({ ok: true, result: { quality: '720p' } })
    expect(camera.reportedState()).toMatchObject({ streaming: true, streamUrl: 'rtsp://test-camera.cam.homefleet.local/live', quality: '720p' })
    expect(camera.sample()).toMatchObject({ streaming: true })
    expect(camera.execute('stopStream', {})).toMatchObject({ ok: true, result: { streaming: false } })
    expect(camera.sample()).toMatchObject({ streaming: false })
  })

  it('snapshot returns numbered image references and adds them to storage', () => {
    const { camera, clock } = makeCamera()
    const before = camera.storageUsedMb
    const r1 = camera.execute('snapshot', {})
    expect(r1).toMatchObject({ ok: true, result: { image: 'snap://test-camera/1.jpg', ts: clock.now() } })
    const bytes1 = r1.ok ? r1.result.bytes as number : 0
    expect(bytes1).toBeGreaterThan(100_000)
    expect(bytes1).toBeLessThan(600_000)
    const r2 = camera.execute('snapshot', { quality: 30 })
    expect(r2).toMatchObject({ ok: true, result: { image: 'snap://test-camera/2.jpg' } })
    const bytes2 = r2.ok ? r2.result.bytes as number : 0
    expect(bytes2).toBeLessThan(bytes1)
    expect(camera.storageUsedMb).toBeCloseTo(before + (bytes1 + bytes2) / 1024 / 1024, 6)
  })

  it('setNightMode takes on (boolean) or mode (on, off, auto)', () => {
    const { camera, clock } = makeCamera({ start: at(12, 0) })
    expect(camera.execute('setNightMode', { on: true })).toMatchObject({ ok: true, result: { nightMode: 'on', infrared: true } })
    expect(camera.execute('setNightMode', { on: false })).toMatchObject({ ok: true, result: { nightMode: 'off', infrared: false } })
    expect(camera.execute('setNightMode', { mode: 'auto' })).toMatchObject({ ok: true, result: { nightMode: 'auto', infrared: false } })
    expect(camera.execute('setNightMode', { mode: 'on', on: true })).toMatchObject({ ok: true, result: { nightMode: 'on' } })
    camera.execute('setNightMode', { mode: 'auto' })
    clock.advance(10 * 3_600_000) // 22:00
    expect(camera.infrared).toBe(true)
    expect(camera.sample()).toMatchObject({ nightMode: 'auto', infrared: true })
    expect(infraredOn('auto', 6.99)).toBe(true)
    expect(infraredOn('auto', 7)).toBe(false)
    expect(infraredOn('off', 23)).toBe(false)
  })

  it('answers INVALID_VALUE, VALUE_OUT_OF_RANGE, UNKNOWN_COMMAND and BAD_REQUEST', () => {
    const { camera } = makeCamera()
    for (const args of [{}, { mode: 'dim' }, { on: 'yes' }, { mode: 1 }, { on: true, mode: 'off' }]) {
      expect(camera.execute('setNightMode', args), JSON.stringify(args)).toMatchObject({ ok: false, status: 400, error: { code: 'INVALID_VALUE' } })
    }
    expect(codeOf(camera.execute('startStream', { quality: '4k' }))).toBe('INVALID_VALUE')
    expect(codeOf(camera.execute('snapshot', { quality: 'high' }))).toBe('INVALID_VALUE')
    expect(camera.execute('snapshot', { quality: 5 })).toMatchObject({ ok: false, status: 400, error: { code: 'VALUE_OUT_OF_RANGE' } })
    expect(codeOf(camera.execute('snapshot', { quality: 101 }))).toBe('VALUE_OUT_OF_RANGE')
    expect(camera.execute('pan', {})).toMatchObject({ ok: false, status: 404, error: { code: 'UNKNOWN_COMMAND' } })
    expect(camera.execute('snapshot', Buffer.from('{"quality":'))).toMatchObject({ ok: false, status: 400, error: { code: 'BAD_REQUEST' } })
    expect(camera.execute('snapshot', Buffer.from('"just a string"'))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } })
    expect(codeOf(camera.execute('snapshot', Buffer.from('')))).toBe('ok')
    expect(camera.nightMode).toBe('auto')
  })

  it('answers DEVICE_OFF to everything but turnOn/turnOff when off, and sees no motion', () => {
    const { camera, clock } = makeCamera()
    camera.execute('turnOff', {})
    for (const [name, args] of [['startStream', {}], ['stopStream', {}], ['snapshot', {}], ['setNightMode', { on: true }]] as const) {
      expect(camera.execute(name, args), name).toMatchObject({ ok: false, status: 409, error: { code: 'DEVICE_OFF' } })
    }
    const used = camera.storageUsedMb
    tick(camera, clock, 4 * 60 * 24) // a day
    expect(camera.events).toEqual([])
    expect(camera.motionEventsToday).toBe(0)
    expect(camera.storageUsedMb).toBe(used)
    expect(camera.sample()).toMatchObject({ power: false, streaming: false, infrared: false })
    expect(codeOf(camera.execute('turnOn', {}))).toBe('ok')
    expect(codeOf(camera.execute('snapshot', {}))).toBe('ok')
  })

  it('applies desired power, nightMode and streaming', () => {
    const { camera } = makeCamera()
    camera.applyDesired('nightMode', 'on')
    expect(camera.nightMode).toBe('on')
    camera.applyDesired('nightMode', false)
    expect(camera.nightMode).toBe('off')
    camera.applyDesired('streaming', true)
    expect(camera.streaming).toBe(true)
    camera.applyDesired('power', false)
    expect(camera.reportedState()).toMatchObject({ power: false, streaming: false })
    expect(() => { camera.applyDesired('streaming', true) }).toThrow(/off/)
    expect(() => { camera.applyDesired('power', 'on') }).toThrow(/true or false/)
    expect(() => { camera.applyDesired('nightMode', 'dim') }).toThrow(/nightMode.*one of on, off, auto/)
  })
})

describe('Camera motion', () => {
  /** Run a camera for `days` from midnight; return its motion event times and the expected count. */
  function run (room: string, seed: number, days: number): { times: number[]; expected: number; camera: RecordingCamera } {
    const { camera, clock } = makeCamera({ room, seed, start: at(0, 0) })
    let expected = 0
    for (let i = 0; i < days * 24 * 240; i++) {
      clock.advance(15_000)
      expected += motionRatePerHour(room, localHour(clock.now(), 0)) * 15_000 / 3_600_000
      camera.sendTelemetry()
    }
    return { times: camera.events.filter((e) => e.name === 'motion').map((e) => e.at), expected, camera }
  }

  it('emits motion events as Poisson arrivals at the room\'s rate (within 4 standard deviations)', () => {
    for (const room of ['garden', 'front door', 'kitchen']) {
      for (const seed of [1, 2, 3]) {
        const { times, expected } = run(room, seed, 4)
        // A Poisson count has variance equal to its mean.
        expect(Math.abs(times.length - expected), `${room} seed ${seed}: ${times.length} vs ${expected}`).toBeLessThan(4 * Math.sqrt(expected))
      }
    }
  })

  it('sees more motion by day than by night, and more outdoors than indoors', () => {
    const garden = run('garden', 9, 6).times
    const dayHours = 13
    const byDay = garden.filter((t) => { const h = localHour(t, 0); return h >= 7 && h < 20 }).length / (6 * dayHours)
    const byNight = (garden.length - byDay * 6 * dayHours) / (6 * (24 - dayHours))
    expect(byDay).toBeGreaterThan(3 * byNight)
    expect(run('office', 9, 6).times.length).toBeLessThan(garden.length / 2)
    expect(motionRatePerHour('garage', 12)).toBeGreaterThan(motionRatePerHour('kitchen', 12))
  })

  it('reports zone and confidence, and counts motion per local day', () => {
    const { times, camera } = run('front door', 4, 2)
    const motion = camera.events.filter((e) => e.name === 'motion')
    for (const e of motion) {
      expect(['porch', 'path', 'street']).toContain(e.data.zone)
      expect(e.data.confidence).toBeGreaterThanOrEqual(0.55)
      expect(e.data.confidence).toBeLessThanOrEqual(0.99)
    }
    // The run ends at 00:00 on day 3, so today's count has just been reset.
    expect(times.length).toBeGreaterThan(0)
    expect(camera.motionEventsToday).toBe(times.filter((t) => t > at(0, 0, 2)).length)
    expect(camera.reportedState().lastMotionAt).toBe(times.at(-1))
  })

  it('is deterministic for a seed', () => {
    expect(run('garden', 5, 1).times).toEqual(run('garden', 5, 1).times)
    expect(run('garden', 5, 1).times).not.toEqual(run('garden', 6, 1).times)
  })
})

describe('Camera storage', () => {
  it('grows at the stream bitrate while streaming', () => {
    const { camera, clock } = makeCamera({ room: 'kitchen' })
    camera.storageUsedMb = 1000
    camera.execute('startStream', { quality: '1080p' })
    tick(camera, clock, 240) // one hour
    expect(camera.storageUsedMb).toBeCloseTo(1000 + STREAM_BITRATES_MBPS['1080p'] / 8 * 3600, 6)
  })

  it('records a clip per motion event when not streaming', () => {
    const { camera, clock } = makeCamera({ room: 'garden' })
    const before = camera.storageUsedMb
    tick(camera, clock, 240 * 4)
    const clips = camera.events.filter((e) => e.name === 'motion').length
    expect(clips).toBeGreaterThan(0)
    expect(camera.storageUsedMb).toBeCloseTo(before + clips * STREAM_BITRATES_MBPS[DEFAULT_STREAM_QUALITY] / 8 * 10, 6)
  })

  it('overwrites the oldest recordings when the card is full, and says so once', () => {
    const { camera, clock } = makeCamera()
    camera.storageUsedMb = STORAGE_CAPACITY_MB - 10
    camera.execute('startStream', {})
    tick(camera, clock, 4 * 60)
    expect(camera.storageUsedMb).toBe(STORAGE_CAPACITY_MB)
    expect(camera.overwrittenMb).toBeGreaterThan(1000)
    expect(camera.events.filter((e) => e.name === 'storageFull')).toEqual([expect.objectContaining({ data: { capacityMb: STORAGE_CAPACITY_MB } })])
    expect(camera.sample()).toMatchObject({ storageUsedMb: STORAGE_CAPACITY_MB })
    expect(camera.reportedState()).toMatchObject({ storageCapacityMb: STORAGE_CAPACITY_MB })
  })
})

describe('Camera telemetry', () => {
  it('samples power, streaming, nightMode, storage, motion count and rssi', () => {
    const { camera, clock } = makeCamera()
    tick(camera, clock, 10)
    const s = camera.sample()
    expect(Object.keys(s).sort()).toEqual(['infrared', 'motionEventsToday', 'nightMode', 'power', 'rssi', 'storageUsedMb', 'streaming'])
    expect(s.rssi).toBeGreaterThanOrEqual(-90)
    expect(s.rssi).toBeLessThanOrEqual(-30)
  })
})
