import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { FleetError } from '../../core/errors.ts'
import {
  HEART_RATE_MAX, HEART_RATE_MIN, LOW_BATTERY_PERCENT, MAX_ALARMS, POWER_ON_PERCENT, SPO2_MAX, SPO2_MIN, SYNC_COST,
  VIBRATION_COST_PER_SECOND, type Activity
} from '../../devices/band.ts'
import { localHour } from '../../devices/local-time.ts'
import { RecordingBand, START, at, codeOf, runtimeFor, specFor, tick } from './helpers.ts'

function makeBand (options: { seed?: number | string; id?: string; start?: number; intervalMs?: number; tags?: Record<string, string> } = {}): { band: RecordingBand; clock: VirtualClock } {
  const clock = new VirtualClock(options.start ?? START)
  const spec = specFor('band', { id: options.id ?? 'test-band', telemetryIntervalMs: options.intervalMs ?? 5000, ...(options.tags === undefined ? {} : { tags: options.tags }) })
  return { band: new RecordingBand(spec, runtimeFor(clock, options.seed ?? 1)), clock }
}

describe('Band commands', () => {
  it('findDevice vibrates (default 5 s, or durationMs), emits vibrated and costs battery', () => {
    const { band, clock } = makeBand()
    const before = band.battery
    expect(band.execute('findDevice', {})).toMatchObject({ ok: true, status: 200, result: { vibrating: true, durationMs: 5000 } })
    expect(band.vibrating).toBe(true)
    expect(band.battery).toBeCloseTo(before - 5 * VIBRATION_COST_PER_SECOND, 10)
    expect(band.events.at(-1)).toMatchObject({ name: 'vibrated', data: { durationMs: 5000, reason: 'findDevice' } })
    expect(band.execute('findDevice', { durationMs: 12_000 })).toMatchObject({ ok: true, result: { vibrating: true, durationMs: 12_000 } })
    clock.advance(12_001)
    expect(band.vibrating).toBe(false)
  })

  it('setAlarm accepts HH:MM with an optional label and repeat, and replaces an alarm at the same time', () => {
    const { band } = makeBand()
    const r = band.execute('setAlarm', { time: '07:30', label: 'work' })
    expect(r).toMatchObject({ ok: true, result: { time: '07:30', label: 'work', repeat: false, alarms: 1 } })
    // Set at 08:00, so 07:30 is tomorrow morning.
    expect(r.ok && r.result.nextRingAt).toBe(at(7, 30, 1))
    expect(band.execute('setAlarm', { time: '23:59', repeat: true })).toMatchObject({ ok: true, result: { label: null, repeat: true, alarms: 2 } })
    expect(band.execute('setAlarm', { time: '07:30', label: 'gym' })).toMatchObject({ ok: true, result: { alarms: 2 } })
    expect(band.alarmList()).toEqual([
      { time: '07:30', label: 'gym', repeat: false, source: 'command' },
      { time: '23:59', label: null, repeat: true, source: 'command' }
    ])
    expect(band.reportedState().alarms).toHaveLength(2)
  })

  it('setAlarm validates the time strictly', () => {
    const { band } = makeBand()
    for (const time of ['25:00', '7:5', '7:05', '07:60', '24:00', '0730', '07:30:00', ' 07:30', '', 730, null]) {
      const r = band.execute('setAlarm', { time })
      expect(codeOf(r), JSON.stringify(time)).toBe('INVALID_VALUE')
    }
    expect(codeOf(band.execute('setAlarm', {}))).toBe('INVALID_VALUE')
    expect(codeOf(band.execute('setAlarm', { time: '07:00', repeat: 'daily' }))).toBe('INVALID_VALUE')
    expect(codeOf(band.execute('setAlarm', { time: '07:00', label: 'x'.repeat(33) }))).toBe('VALUE_OUT_OF_RANGE')
    expect(band.alarmList()).toEqual([])
    for (const t of ['00:00', '23:59', '12:00', '09:05']) expect(codeOf(band.execute('setAlarm', { time: t }))).toBe('ok')
  })

  it(`holds at most ${MAX_ALARMS} alarms`, () => {
    const { band } = makeBand()
    for (let i = 0; i < MAX_ALARMS; i++) expect(codeOf(band.execute('setAlarm', { time: `0${i}:00` }))).toBe('ok')
    const r = band.execute('setAlarm', { time: '10:00' })
    expect(r).toMatchObject({ ok: false, status: 400, error: { code: 'VALUE_OUT_OF_RANGE' } })
    // Replacing an existing one is still fine.
    expect(codeOf(band.execute('setAlarm', { time: '05:00', label: 'again' }))).toBe('ok')
  })

  it('cancelAlarm cancels one alarm by time, or all of them', () => {
    const { band } = makeBand()
    band.execute('setAlarm', { time: '07:00' })
    band.execute('setAlarm', { time: '08:00' })
    band.execute('setAlarm', { time: '09:00' })
    expect(band.execute('cancelAlarm', { time: '08:00' })).toMatchObject({ ok: true, result: { cancelled: ['08:00'], alarms: 2 } })
    expect(codeOf(band.execute('cancelAlarm', { time: '08:00' }))).toBe('INVALID_VALUE')
    expect(codeOf(band.execute('cancelAlarm', { time: '8:00' }))).toBe('INVALID_VALUE')
    expect(band.execute('cancelAlarm', {})).toMatchObject({ ok: true, result: { cancelled: ['07:00', '09:00'], alarms: 0 } })
    expect(band.execute('cancelAlarm', {})).toMatchObject({ ok: true, result: { cancelled: [], alarms: 0 } })
  })

  it('sync returns steps, heart rate, battery and the sync time, and costs battery', () => {
    const { band, clock } = makeBand()
    tick(band, clock, 10)
    const before = band.battery
    const r = band.execute('sync', '')
    expect(r).toMatchObject({ ok: true, result: { steps: band.steps, heartRate: Math.round(band.heartRate), lastSync: clock.now() } })
    expect(band.battery).toBeCloseTo(before - SYNC_COST, 10)
    expect(r.ok && r.result.battery).toBe(band.batteryPercent)
    expect(band.reportedState().lastSync).toBe(clock.now())
  })

  it('getHeartRate, getSteps and getBattery return the current values', () => {
    const { band, clock } = makeBand()
    tick(band, clock, 20)
    expect(band.execute('getHeartRate', {})).toMatchObject({ ok: true, result: { heartRate: Math.round(band.heartRate), activity: band.activity } })
    expect(band.execute('getSteps', {})).toMatchObject({ ok: true, result: { steps: band.steps, goal: 8000 } })
    expect(band.execute('getBattery', {})).toMatchObject({ ok: true, result: { battery: band.batteryPercent, charging: false, power: true } })
  })

  it('setCharging charges the battery up to 100 and needs a boolean', () => {
    const { band, clock } = makeBand()
    band.battery = 50
    expect(band.execute('setCharging', { on: true })).toMatchObject({ ok: true, result: { charging: true, battery: 50 } })
    tick(band, clock, 12 * 30) // 30 minutes at 5 s
    expect(band.battery).toBeCloseTo(75, 5)
    tick(band, clock, 12 * 120)
    expect(band.battery).toBe(100)
    expect(codeOf(band.execute('setCharging', {}))).toBe('INVALID_VALUE')
    expect(codeOf(band.execute('setCharging', { on: 'yes' }))).toBe('INVALID_VALUE')
  })

  it('answers UNKNOWN_COMMAND, BAD_REQUEST and VALUE_OUT_OF_RANGE with the right status', () => {
    const { band } = makeBand()
    expect(band.execute('dance', {})).toMatchObject({ ok: false, status: 404, error: { code: 'UNKNOWN_COMMAND' } })
    expect(band.execute('toString', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } })
    expect(band.execute('sync', Buffer.from('not json {'))).toMatchObject({ ok: false, status: 400, error: { code: 'BAD_REQUEST' } })
    expect(band.execute('sync', Buffer.from('[1,2]'))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } })
    expect(band.execute('findDevice', { durationMs: 100 })).toMatchObject({ ok: false, status: 400, error: { code: 'VALUE_OUT_OF_RANGE' } })
    expect(band.execute('findDevice', { durationMs: 60_000 })).toMatchObject({ ok: false, error: { code: 'VALUE_OUT_OF_RANGE' } })
    expect(band.execute('findDevice', { durationMs: 'long' })).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE' } })
    expect(band.execute('findDevice', { durationMs: 1500.5 })).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE' } })
    expect(band.counters.badPayloads).toBe(2)
    // The band keeps answering after bad input.
    expect(codeOf(band.execute('getBattery', Buffer.from('{}')))).toBe('ok')
  })
})

describe('Band physiology', () => {
  /** The fastest wearer's running cadence (185 a minute) plus 20 % of stride-to-stride variation. */
  const MAX_STEPS_PER_MINUTE = 222
  /** Three days at one-minute ticks: enough to see every activity, every hour and two midnights. */
  function threeDays (seed: number): Array<{ t: number; activity: Activity; heartRate: number; steps: number; spo2: number; battery: number }> {
    const { band, clock } = makeBand({ seed, start: at(0, 0), intervalMs: 60_000 })
    band.battery = 100
    const out = []
    for (let i = 0; i < 3 * 24 * 60; i++) {
      tick(band, clock)
      out.push({ t: clock.now(), activity: band.activity, heartRate: band.heartRate, steps: band.steps, spo2: band.spo2, battery: band.battery })
    }
    return out
  }

  it('keeps heart rate and SpO2 within physiological bounds, and heart rate follows activity', () => {
    for (const seed of [1, 2, 3]) {
      const run = threeDays(seed)
      const byActivity: Record<Activity, number[]> = { rest: [], walk: [], run: [] }
      for (const s of run) {
        expect(s.heartRate).toBeGreaterThanOrEqual(HEART_RATE_MIN)
        expect(s.heartRate).toBeLessThanOrEqual(HEART_RATE_MAX)
        expect(Number.isInteger(s.spo2)).toBe(true)
        expect(s.spo2).toBeGreaterThanOrEqual(SPO2_MIN)
        expect(s.spo2).toBeLessThanOrEqual(SPO2_MAX)
        byActivity[s.activity].push(s.heartRate)
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
      expect(byActivity.walk.length).toBeGreaterThan(0)
      expect(mean(byActivity.walk)).toBeGreaterThan(mean(byActivity.rest) + 15)
      if (byActivity.run.length > 10) expect(mean(byActivity.run)).toBeGreaterThan(mean(byActivity.walk))
      // SpO2 mostly high, with the odd dip.
      expect(run.filter((s) => s.spo2 >= 96).length / run.length).toBeGreaterThan(0.9)
    }
  })

  it('is active by day and still at night', () => {
    let night = 0
    let nightActive = 0
    let day = 0
    let dayActive = 0
    for (const seed of [1, 2, 3, 4]) {
      for (const s of threeDays(seed)) {
        const h = localHour(s.t, 0)
        if (h >= 1 && h < 5) { night++; if (s.activity !== 'rest') nightActive++ }
        if (h >= 7 && h < 20) { day++; if (s.activity !== 'rest') dayActive++ }
      }
    }
    expect(dayActive / day).toBeGreaterThan(0.04)
    expect(nightActive / night).toBeLessThan(0.01)
  })

  it('counts steps monotonically within a day, resets them at midnight, and makes a plausible day', () => {
    const run = threeDays(5)
    let resets = 0
    for (let i = 1; i < run.length; i++) {
      const prev = run[i - 1]!
      const cur = run[i]!
      const midnight = Math.floor(cur.t / 86_400_000) !== Math.floor(prev.t / 86_400_000)
      if (midnight) {
        resets++
        expect(cur.steps).toBeLessThanOrEqual(MAX_STEPS_PER_MINUTE) // at most one minute of running
      } else {
        expect(cur.steps).toBeGreaterThanOrEqual(prev.steps)
      }
      // No more than a minute of fast running per one-minute tick.
      if (!midnight) expect(cur.steps - prev.steps).toBeLessThanOrEqual(MAX_STEPS_PER_MINUTE)
    }
    expect(resets).toBe(3) // ticks from 00:01 on day 1 to 00:00 on day 4
    const endOfDay1 = run[24 * 60 - 2]!.steps
    expect(endOfDay1).toBeGreaterThan(2000)
    expect(endOfDay1).toBeLessThan(30_000)
  })

  it('adds no steps at rest and about 100 a minute walking', () => {
    const { band, clock } = makeBand({ start: at(3, 0), intervalMs: 60_000 })
    let restTicks = 0
    let walkTicks = 0
    let walkSteps = 0
    for (let i = 0; i < 3 * 24 * 60; i++) {
      const before = band.steps
      const day = Math.floor(clock.now() / 86_400_000)
      tick(band, clock)
      if (Math.floor(clock.now() / 86_400_000) !== day) continue
      if (band.activity === 'rest') { restTicks++; expect(band.steps).toBe(before) }
      if (band.activity === 'walk') { walkTicks++; walkSteps += band.steps - before }
    }
    expect(restTicks).toBeGreaterThan(0)
    expect(walkTicks).toBeGreaterThan(20)
    expect(walkSteps / walkTicks).toBeGreaterThan(80)
    expect(walkSteps / walkTicks).toBeLessThan(125)
  })

  it('drains the battery with use, never below 0', () => {
    const run = threeDays(7)
    for (let i = 1; i < run.length; i++) expect(run[i]!.battery).toBeLessThanOrEqual(run[i - 1]!.battery)
    const perHour = (100 - run.at(-1)!.battery) / 72
    expect(perHour).toBeGreaterThanOrEqual(0.22)
    expect(perHour).toBeLessThan(0.6)
  })

  it('emits lowBattery once when falling to 15 %, and again only after charging above 20 %', () => {
    const { band, clock } = makeBand({ intervalMs: 60_000 })
    band.battery = LOW_BATTERY_PERCENT + 0.05
    tick(band, clock, 60)
    const low = (): number => band.events.filter((e) => e.name === 'lowBattery').length
    expect(low()).toBe(1)
    expect(band.events.find((e) => e.name === 'lowBattery')?.data).toEqual({ battery: LOW_BATTERY_PERCENT })
    tick(band, clock, 600)
    expect(low()).toBe(1)
    // Charging to 18 % does not re-arm it…
    band.execute('setCharging', { on: true })
    while (band.battery < 18) tick(band, clock)
    band.execute('setCharging', { on: false })
    while (band.battery > 14) tick(band, clock)
    expect(low()).toBe(1)
    // …charging above 20 % does.
    band.execute('setCharging', { on: true })
    while (band.battery <= 20.5) tick(band, clock)
    band.execute('setCharging', { on: false })
    band.battery = LOW_BATTERY_PERCENT + 0.01
    tick(band, clock, 10)
    expect(low()).toBe(2)
  })

  it('switches off with an empty battery: battery-only telemetry, DEVICE_OFF, back on when charged', () => {
    const { band, clock } = makeBand({ intervalMs: 60_000 })
    band.execute('setAlarm', { time: '08:10' })
    band.battery = 0.001
    tick(band, clock)
    expect(band.power).toBe(false)
    expect(band.batteryPercent).toBe(0)
    expect(band.events.map((e) => e.name)).toContain('batteryEmpty')
    expect(band.sample()).toEqual({ power: false, battery: 0, charging: false })
    expect(band.reportedState()).toMatchObject({ power: false, battery: 0 })
    for (const [name, args] of [['getHeartRate', {}], ['getSteps', {}], ['sync', {}], ['findDevice', {}], ['setAlarm', { time: '09:00' }], ['cancelAlarm', {}]] as const) {
      expect(band.execute(name, args), name).toMatchObject({ ok: false, status: 409, error: { code: 'DEVICE_OFF' } })
    }
    expect(band.execute('getBattery', {})).toMatchObject({ ok: true, result: { battery: 0, power: false } })
    // Stays at 0, stays off, and its alarm does not ring while dead.
    tick(band, clock, 30)
    expect(band.battery).toBe(0)
    expect(band.events.some((e) => e.name === 'alarmRang')).toBe(false)
    expect(band.execute('setCharging', { on: true })).toMatchObject({ ok: true })
    while (!band.power) tick(band, clock)
    expect(band.battery).toBeGreaterThanOrEqual(POWER_ON_PERCENT)
    expect(band.sample()).toMatchObject({ power: true, charging: true })
    expect(codeOf(band.execute('getHeartRate', {}))).toBe('ok')
  })
})

describe('Band alarms', () => {
  it('rings at the alarm time of virtual time, with its label, and vibrates', () => {
    const { band, clock } = makeBand()
    band.execute('setAlarm', { time: '08:30', label: 'stand-up' })
    while (!band.events.some((e) => e.name === 'alarmRang') && clock.now() < at(9, 0)) tick(band, clock)
    const rang = band.events.find((e) => e.name === 'alarmRang')
    expect(rang?.data).toEqual({ time: '08:30', label: 'stand-up' })
    expect(rang?.at).toBeGreaterThanOrEqual(at(8, 30))
    expect(rang?.at).toBeLessThanOrEqual(at(8, 30) + 5000)
    expect(band.events.at(-1)).toMatchObject({ name: 'vibrated', data: { reason: 'alarm' } })
    // A one-shot alarm is gone after ringing.
    expect(band.alarmList()).toEqual([])
    tick(band, clock, 12 * 60 * 25)
    expect(band.events.filter((e) => e.name === 'alarmRang')).toHaveLength(1)
  })

  it('rings an alarm set for an earlier time tomorrow, and a repeating alarm every day', () => {
    const { band, clock } = makeBand({ intervalMs: 60_000 })
    band.battery = 100
    band.execute('setAlarm', { time: '07:00', repeat: true })
    tick(band, clock, 60 * 24 * 3)
    const rings = band.events.filter((e) => e.name === 'alarmRang').map((e) => e.at)
    expect(rings).toEqual([at(7, 0, 1), at(7, 0, 2), at(7, 0, 3)])
    expect(band.alarmList()).toHaveLength(1)
  })

  it('reads the alarm time in the band\'s local time (utcOffset tag)', () => {
    const { band, clock } = makeBand({ tags: { utcOffset: '+02:00' } }) // 08:00 UTC is 10:00 local
    band.execute('setAlarm', { time: '10:30' })
    tick(band, clock, 12 * 60)
    expect(band.events.find((e) => e.name === 'alarmRang')?.at).toBe(at(8, 30))
    expect(() => makeBand({ tags: { utcOffset: 'CET' } })).toThrow(FleetError)
    expect(() => makeBand({ tags: { utcOffset: '+15:00' } })).toThrow(/utcOffset/)
  })

  it('takes the desired alarm (HH:MM or null) as one daily alarm owned by the twin, and a step goal', () => {
    const { band, clock } = makeBand({ intervalMs: 60_000 })
    band.execute('setAlarm', { time: '06:00', label: 'mine' })
    band.applyDesired('alarm', '09:15')
    band.applyDesired('alarm', '09:45')
    expect(band.alarmList()).toEqual([
      { time: '06:00', label: 'mine', repeat: false, source: 'command' },
      { time: '09:45', label: null, repeat: true, source: 'desired' }
    ])
    expect(() => { band.applyDesired('alarm', '9:45') }).toThrow(/HH:MM/)
    expect(() => { band.applyDesired('alarm', 945) }).toThrow(/HH:MM/)
    tick(band, clock, 120)
    expect(band.events.filter((e) => e.name === 'alarmRang').map((e) => e.data.time)).toEqual(['09:45'])
    band.applyDesired('alarm', null)
    expect(band.alarmList().map((a) => a.time)).toEqual(['06:00'])
    band.applyDesired('stepGoal', 12_000)
    expect(band.reportedState().stepGoal).toBe(12_000)
    expect(() => { band.applyDesired('stepGoal', 5) }).toThrow(/stepGoal/)
  })

  it('emits goalReached once a day when the steps pass the goal', () => {
    const { band, clock } = makeBand({ start: at(0, 0), intervalMs: 60_000 })
    band.battery = 100
    band.applyDesired('stepGoal', 1000)
    tick(band, clock, 60 * 24 * 2 - 1)
    const goals = band.events.filter((e) => e.name === 'goalReached')
    expect(goals).toHaveLength(2)
    for (const g of goals) expect(g.data.steps).toBeGreaterThanOrEqual(1000)
  })
})

describe('Band reproducibility', () => {
  const samples = (seed: number, id = 'band-7'): Array<Record<string, unknown>> => {
    const { band, clock } = makeBand({ seed, id })
    const out = []
    for (let i = 0; i < 500; i++) { tick(band, clock); out.push(band.sample()) }
    return out
  }

  it('gives identical telemetry for the same seed and id, and different telemetry otherwise', () => {
    const a = samples(42)
    expect(samples(42)).toEqual(a)
    expect(samples(43)).not.toEqual(a)
    expect(samples(42, 'band-8')).not.toEqual(a)
  })
})
