/**
 * Fitness band (Xiaomi-style, e.g. `xiaomi.band.8`): heart rate, steps, SpO2 and battery that follow what its
 * wearer does, alarms that vibrate, and "find my band". The voice bridge (bridge/) drives it only through its
 * commands (`getHeartRate`, `getSteps`, `getBattery`, `findDevice`, `setAlarm`).
 *
 * The model, in one place so the numbers can be argued with:
 *
 * - **Activity** is `rest`, `walk` or `run`, a continuous-time Markov chain stepped once per telemetry tick. Its
 *   rates ({@link ACTIVITY_RATES_PER_HOUR}) are scaled by the hour of the band's local day
 *   ({@link HOURLY_ACTIVITY}): starting to move is rare at night, and active spells end sooner then.
 * - **Heart rate** is an Ornstein–Uhlenbeck process (a mean-reverting random walk) toward a target that depends on
 *   the activity and on the wearer (resting rate, a few bpm lower asleep), discretised exactly so the result does
 *   not depend on the telemetry interval; clamped to {@link HEART_RATE_MIN}–{@link HEART_RATE_MAX}.
 * - **Steps** accumulate at a per-wearer cadence (about 100 a minute walking, 160 running, none at rest) and reset
 *   at local midnight. Quantities advance by the tick's `dtMs`; time of day, midnight and alarms read `clock.now()`.
 * - **SpO2** hovers around a per-wearer baseline (97–99 %) with occasional dips of a few points, more often asleep;
 *   clamped to 94–100.
 * - **Battery** drains by activity, vibration and sync, and charges on the charger (`setCharging`). Charging is
 *   modelled on the battery only: the band keeps measuring as if worn. `lowBattery` is emitted once when it falls
 *   to {@link LOW_BATTERY_PERCENT} %, and re-armed only after charging above {@link LOW_BATTERY_REARM_PERCENT} %.
 *
 * **An empty battery switches the band off**: `power` becomes false, event `batteryEmpty` is emitted, telemetry
 * carries only `{power: false, battery, charging}`, alarms do not ring, and every command but `getBattery` and
 * `setCharging` answers `DEVICE_OFF`. On the charger it switches back on at {@link POWER_ON_PERCENT} %.
 *
 * Local time is the clock's time plus the spec's `utcOffset` tag (UTC by default), see devices/local-time.ts.
 */
import { clamp } from '../core/random.ts'
import { CommandError } from './command-error.ts'
import type { Capability, DeviceContext } from './capability.ts'
import { Device, type CommandHandlers, type DesiredSetters, type DeviceRuntime, type DeviceSpec } from './device.ts'
import { HOUR_MS, MINUTE_MS, localDay, localHour, nextOccurrence, parseHhmm, utcOffsetMs } from './local-time.ts'

export const ACTIVITIES = ['rest', 'walk', 'run'] as const
export type Activity = typeof ACTIVITIES[number]

export const HEART_RATE_MIN = 40
export const HEART_RATE_MAX = 200
export const SPO2_MIN = 94
export const SPO2_MAX = 100
/** `lowBattery` fires when the battery falls to this level… */
export const LOW_BATTERY_PERCENT = 15
/** …and may fire again only after the battery has been charged above this one. */
export const LOW_BATTERY_REARM_PERCENT = 20
/** An emptied band switches back on when charged to this level. */
export const POWER_ON_PERCENT = 2
/** Alarms a band holds, as on the real Mi Band. */
export const MAX_ALARMS = 10
export const MAX_ALARM_LABEL = 32
/** How long an alarm vibrates, milliseconds. */
export const ALARM_VIBRATION_MS = 10_000
export const DEFAULT_STEP_GOAL = 8000

/**
 * Activity transition rates, per hour, at full daytime activity. Mean spells: a walk about 12 minutes, a run about
 * 24; about 90 minutes of walking on an ordinary day (some 9,000 steps).
 */
export const ACTIVITY_RATES_PER_HOUR: Readonly<Record<Activity, Readonly<Partial<Record<Activity, number>>>>> = Object.freeze({
  rest: { walk: 0.8, run: 0.04 },
  walk: { rest: 5, run: 0.15 },
  run: { walk: 2, rest: 0.5 }
})

/** {@link ACTIVITY_RATES_PER_HOUR} as `[to, rate]` lists, made once. */
const ACTIVITY_EXITS: Readonly<Record<Activity, ReadonlyArray<readonly [Activity, number]>>> = Object.freeze({
  rest: Object.freeze(Object.entries(ACTIVITY_RATES_PER_HOUR.rest) as Array<[Activity, number]>),
  walk: Object.freeze(Object.entries(ACTIVITY_RATES_PER_HOUR.walk) as Array<[Activity, number]>),
  run: Object.freeze(Object.entries(ACTIVITY_RATES_PER_HOUR.run) as Array<[Activity, number]>)
})

/** The rate of leaving `from` for `to` at activity factor `f`: starting to move (or speeding up) follows the hour; stopping is quicker when the hour is quiet. */
function exitRate (from: Activity, to: Activity, base: number, f: number): number {
  return to === 'rest' ? base * (1 + 4 * (1 - f)) : from === 'rest' || to === 'run' ? base * f : base
}

/** How active people are in each local hour, 0–1 (index 0 is 00:00–01:00): asleep at night, peaks before and after work. */
export const HOURLY_ACTIVITY: readonly number[] = Object.freeze([
  0.02, 0.01, 0.01, 0.01, 0.01, 0.03, 0.2, 0.8, 1, 0.6, 0.5, 0.6,
  0.9, 0.6, 0.5, 0.5, 0.6, 1, 1, 0.8, 0.5, 0.3, 0.1, 0.05
])
const HOURLY_TOTAL = HOURLY_ACTIVITY.reduce((a, b) => a + b, 0)

/** Battery drain by activity, percent per hour (about 16 days of ordinary use from full, as advertised). */
export const DRAIN_PER_HOUR: Readonly<Record<Activity, number>> = Object.freeze({ rest: 0.22, walk: 0.35, run: 0.6 })
export const VIBRATION_COST_PER_SECOND = 0.01
export const SYNC_COST = 0.05
/** Charging rate, percent per hour (empty to full in two hours). */
export const CHARGE_PER_HOUR = 50

/** Heart-rate process per activity: time constant of the pull toward the target, and the spread around it. */
const HEART_RATE_TAU_MS: Readonly<Record<Activity, number>> = { rest: 60_000, walk: 30_000, run: 40_000 }
const HEART_RATE_SD: Readonly<Record<Activity, number>> = { rest: 2.5, walk: 4, run: 5 }
const SPO2_TAU_MS = 5 * MINUTE_MS
/** SpO2 dips per hour, asleep and awake. */
const SPO2_DIPS_PER_HOUR = { asleep: 0.6, awake: 0.05 }

/** How active people are at a local hour of day (fractional hours, 0–24). */
export function activityFactor (hour: number): number {
  return HOURLY_ACTIVITY[Math.floor(hour) % 24] ?? 0
}

/** Share of a day's activity done by a local hour of day, 0–1. */
function dayShareBefore (hour: number): number {
  const h = Math.floor(hour)
  let sum = 0
  for (let i = 0; i < h; i++) sum += HOURLY_ACTIVITY[i] ?? 0
  return (sum + activityFactor(hour) * (hour - h)) / HOURLY_TOTAL
}

/** One alarm as a band holds it. `source` says who set it: a command, or the twin's desired `alarm`. */
export interface BandAlarm {
  time: string
  label: string | null
  /** Daily, or once (removed after ringing). */
  repeat: boolean
  source: 'command' | 'desired'
}

interface AlarmEntry extends BandAlarm {
  minuteOfDay: number
  /** Clock time it was set: it rings at its first occurrence after this. */
  setAt: number
}

/**
 * The band's body: vitals, steps, battery and power, alarms, vibration. One capability, because they are one
 * system: activity drains the battery, an empty battery switches everything off, alarms vibrate and drain it.
 */
export class BandCapability implements Capability {
  readonly name = 'band'
  /** False once the battery is empty (see the class comment). */
  power = true
  /** Battery level, percent, fractional inside; reported rounded up, so 0 means empty. */
  battery: number
  charging = false
  activity: Activity = 'rest'
  /** Beats per minute, fractional inside; reported rounded. */
  heartRate: number
  /** Steps since local midnight. */
  steps: number
  spo2: number
  stepGoal = DEFAULT_STEP_GOAL
  /** Clock time of the last `sync`, or null. */
  lastSync: number | null = null
  /** Clock time until which the band vibrates. */
  vibratingUntil = 0

  /** The wearer: resting, walking and running heart rates; walking and running cadence (steps per minute). */
  readonly wearer: Readonly<{ restingHr: number; walkHr: number; runHr: number; walkCadence: number; runCadence: number; spo2Base: number }>

  private readonly ctx: DeviceContext
  private readonly utcOffset: number
  private readonly alarms: AlarmEntry[] = []
  private day: number
  private stepCarry = 0
  private goalReachedToday: boolean
  private lowBatteryArmed: boolean
  private reportedBattery: number
  private spo2Noise = 0
  private spo2DipMs = 0
  private spo2DipDepth = 0
  private alarmCheckedAt: number

  constructor (ctx: DeviceContext) {
    this.ctx = ctx
    this.utcOffset = utcOffsetMs(ctx.spec)
    // Draw order is part of reproducibility: the wearer, then the battery, then the day's steps.
    const restingHr = this.ctx.rng.int(56, 72)
    this.wearer = Object.freeze({
      restingHr,
      walkHr: restingHr + this.ctx.rng.int(30, 45),
      runHr: this.ctx.rng.int(140, 165),
      walkCadence: clamp(this.ctx.rng.normal(100, 6), 85, 120),
      runCadence: clamp(this.ctx.rng.normal(160, 8), 140, 185),
      spo2Base: this.ctx.rng.float(97, 99)
    })
    const now = this.ctx.clock.now()
    this.battery = this.ctx.rng.float(40, 100)
    this.lowBatteryArmed = this.battery > LOW_BATTERY_PERCENT
    this.reportedBattery = this.batteryPercent
    this.heartRate = this.heartRateTarget(localHour(now, this.utcOffset))
    this.spo2 = Math.round(this.wearer.spo2Base)
    this.day = localDay(now, this.utcOffset)
    // Start part-way through the day's steps, so a band started at 18:00 does not read 0.
    this.steps = Math.round(dayShareBefore(localHour(now, this.utcOffset)) * this.ctx.rng.int(5000, 11_000))
    this.goalReachedToday = this.steps >= this.stepGoal
    this.alarmCheckedAt = now
  }

  /** Battery as reported: whole percent, rounded up (0 only when empty). */
  get batteryPercent (): number { return Math.ceil(this.battery) }
  get vibrating (): boolean { return this.ctx.clock.now() < this.vibratingUntil }
  /** The alarms set, earliest time of day first. */
  alarmList (): BandAlarm[] {
    return this.alarms
      .slice()
      .sort((a, b) => a.minuteOfDay - b.minuteOfDay)
      .map(({ time, label, repeat, source }) => ({ time, label, repeat, source }))
  }

  private requireOn (): void {
    if (!this.power) throw new CommandError('DEVICE_OFF', `${this.ctx.spec.name} is off: its battery is empty; send setCharging {"on":true} first`)
  }

  // Methods closing over `cap`, not arrow-function properties: one object per device either way, but tsx gives every
  // arrow stored under a key a `name` property of its own, ~250 bytes each (docs/devices.md, "Memory per device").
  readonly commands = ((cap: BandCapability) => ({
    findDevice ({ durationMs }) {
      cap.requireOn()
      cap.vibrate(durationMs, 'findDevice')
      return { vibrating: true, durationMs }
    },
    setAlarm ({ time, label = null, repeat }) {
      cap.requireOn()
      const alarm = cap.addAlarm(time, label, repeat, 'command')
      return { time, label, repeat, nextRingAt: nextOccurrence(alarm.setAt, alarm.minuteOfDay, cap.utcOffset), alarms: cap.alarms.length }
    },
    cancelAlarm ({ time }) {
      cap.requireOn()
      if (time !== undefined && !cap.alarms.some((a) => a.time === time)) {
        const set = cap.alarms.map((a) => a.time).join(', ')
        throw new CommandError('INVALID_VALUE', `no alarm is set for ${time} (alarms set: ${set === '' ? 'none' : set})`)
      }
      const cancelled = cap.removeAlarms((a) => time === undefined || a.time === time)
      return { cancelled, alarms: cap.alarms.length }
    },
    sync () {
      cap.requireOn()
      cap.lastSync = cap.ctx.clock.now()
      cap.drain(SYNC_COST)
      return { steps: cap.steps, heartRate: Math.round(cap.heartRate), battery: cap.batteryPercent, lastSync: cap.lastSync }
    },
    getHeartRate () { cap.requireOn(); return { heartRate: Math.round(cap.heartRate), activity: cap.activity } },
    getSteps () { cap.requireOn(); return { steps: cap.steps, goal: cap.stepGoal } },
    // These two still work with an empty battery: the charger talks to the band, and the level reads 0.
    getBattery () { return { battery: cap.batteryPercent, charging: cap.charging, power: cap.power } },
    setCharging ({ on }) {
      cap.charging = on
      return { charging: cap.charging, battery: cap.batteryPercent }
    }
  } satisfies CommandHandlers<'band'>))(this)

  readonly desired = ((cap: BandCapability) => ({
    /** The twin's alarm: one daily alarm that the desired state owns (`null` removes it); command alarms stay. */
    alarm (time) {
      cap.removeAlarms((a) => a.source === 'desired')
      if (time !== null) cap.addAlarm(time, null, true, 'desired')
    },
    stepGoal (goal) { cap.stepGoal = goal }
  } satisfies DesiredSetters<'band'>))(this)

  // ---- behaviour -------------------------------------------------------------------------------------------

  private addAlarm (time: string, label: string | null, repeat: boolean, source: BandAlarm['source']): AlarmEntry {
    const minuteOfDay = parseHhmm(time) as number
    const existing = this.alarms.findIndex((a) => a.time === time)
    if (existing < 0 && this.alarms.length >= MAX_ALARMS) {
      throw new CommandError('VALUE_OUT_OF_RANGE', `a band holds at most ${MAX_ALARMS} alarms; cancel one first`)
    }
    const entry: AlarmEntry = { time, label, repeat, source, minuteOfDay, setAt: this.ctx.clock.now() }
    if (existing >= 0) this.alarms[existing] = entry
    else this.alarms.push(entry)
    return entry
  }

  private removeAlarms (match: (a: AlarmEntry) => boolean): string[] {
    const removed: string[] = []
    for (let i = this.alarms.length - 1; i >= 0; i--) {
      const a = this.alarms[i] as AlarmEntry
      if (match(a)) { removed.unshift(a.time); this.alarms.splice(i, 1) }
    }
    return removed
  }

  private vibrate (durationMs: number, reason: 'findDevice' | 'alarm'): void {
    this.vibratingUntil = this.ctx.clock.now() + durationMs
    this.ctx.emitEvent('vibrated', { durationMs, reason })
    this.drain(VIBRATION_COST_PER_SECOND * durationMs / 1000)
  }

  private drain (percent: number): void {
    this.battery = Math.max(0, this.battery - percent)
    this.afterBatteryChange()
  }

  private afterBatteryChange (): void {
    if (this.lowBatteryArmed && this.battery <= LOW_BATTERY_PERCENT) {
      this.lowBatteryArmed = false
      this.ctx.emitEvent('lowBattery', { battery: this.batteryPercent })
    } else if (!this.lowBatteryArmed && this.battery > LOW_BATTERY_REARM_PERCENT) {
      this.lowBatteryArmed = true
    }
    if (this.power && this.battery <= 0) {
      this.battery = 0
      this.power = false
      this.vibratingUntil = 0
      this.ctx.emitEvent('batteryEmpty', {})
      this.ctx.stateChanged()
    } else if (!this.power && this.battery >= POWER_ON_PERCENT) {
      this.power = true
      this.ctx.log('info', 'battery charged enough: band on again', { battery: this.batteryPercent })
      this.ctx.stateChanged()
    }
    if (this.batteryPercent !== this.reportedBattery) {
      this.reportedBattery = this.batteryPercent
      this.ctx.stateChanged()
    }
  }

  private heartRateTarget (hour: number): number {
    switch (this.activity) {
      case 'rest': return isSleepHour(hour) ? this.wearer.restingHr - 6 : this.wearer.restingHr
      case 'walk': return this.wearer.walkHr
      case 'run': return this.wearer.runHr
    }
  }

  /** One step of the activity chain: leave the current activity with the probability its rates give over `dtMs`. */
  private nextActivity (dtMs: number, hour: number): Activity {
    const f = activityFactor(hour)
    const from = this.activity
    // Runs on every tick of every band: the exits are listed once (ACTIVITY_EXITS) and their rates computed twice
    // rather than collected into a new array; the same sums in the same order, so the same draws.
    const exits = ACTIVITY_EXITS[from]
    let total = 0
    for (const [to, base] of exits) total += exitRate(from, to, base, f)
    if (!this.ctx.rng.chance(1 - Math.exp(-total * dtMs / HOUR_MS))) return from
    let u = this.ctx.rng.next() * total
    for (const [to, base] of exits) {
      u -= exitRate(from, to, base, f)
      if (u < 0) return to
    }
    return (exits[exits.length - 1] as readonly [Activity, number])[0]
  }

  step (dtMs: number): void {
    const now = this.ctx.clock.now()
    const hour = localHour(now, this.utcOffset)
    const day = localDay(now, this.utcOffset)
    if (day !== this.day) {
      this.day = day
      this.steps = 0
      this.stepCarry = 0
      this.goalReachedToday = false
    }
    if (this.charging) {
      this.battery = Math.min(100, this.battery + CHARGE_PER_HOUR * dtMs / HOUR_MS)
      this.afterBatteryChange()
    }
    if (!this.power) {
      this.alarmCheckedAt = now // a dead band misses its alarms; they do not ring late
      return
    }

    const activity = this.nextActivity(dtMs, hour)
    if (activity !== this.activity) {
      this.activity = activity
      this.ctx.stateChanged()
    }

    // Heart rate: exact OU step, x' = target + (x - target)·e^(-dt/τ) + σ·sqrt(1 - e^(-2dt/τ))·N(0,1).
    const target = this.heartRateTarget(hour)
    const decay = Math.exp(-dtMs / HEART_RATE_TAU_MS[activity])
    const sd = HEART_RATE_SD[activity]
    this.heartRate = clamp(target + (this.heartRate - target) * decay + sd * Math.sqrt(1 - decay * decay) * this.ctx.rng.normal(), HEART_RATE_MIN, HEART_RATE_MAX)

    const cadence = activity === 'walk' ? this.wearer.walkCadence : activity === 'run' ? this.wearer.runCadence : 0
    if (cadence > 0) {
      this.stepCarry += clamp(this.ctx.rng.normal(cadence, cadence * 0.08), cadence * 0.8, cadence * 1.2) * dtMs / MINUTE_MS
      const whole = Math.floor(this.stepCarry)
      this.steps += whole
      this.stepCarry -= whole
    }
    if (!this.goalReachedToday && this.steps >= this.stepGoal) {
      this.goalReachedToday = true
      this.ctx.emitEvent('goalReached', { steps: this.steps, goal: this.stepGoal })
    }

    const asleep = activity === 'rest' && isSleepHour(hour)
    const spo2Decay = Math.exp(-dtMs / SPO2_TAU_MS)
    this.spo2Noise = this.spo2Noise * spo2Decay + 0.5 * Math.sqrt(1 - spo2Decay * spo2Decay) * this.ctx.rng.normal()
    if (this.spo2DipMs > 0) {
      this.spo2DipMs -= dtMs
    } else if (this.ctx.rng.chance(1 - Math.exp(-(asleep ? SPO2_DIPS_PER_HOUR.asleep : SPO2_DIPS_PER_HOUR.awake) * dtMs / HOUR_MS))) {
      this.spo2DipDepth = this.ctx.rng.float(2, 4.5)
      this.spo2DipMs = this.ctx.rng.int(1, 4) * MINUTE_MS
    }
    const dip = this.spo2DipMs > 0 ? this.spo2DipDepth : 0
    this.spo2 = clamp(Math.round(this.wearer.spo2Base + this.spo2Noise - dip), SPO2_MIN, SPO2_MAX)

    if (!this.charging) this.drain(DRAIN_PER_HOUR[activity] * dtMs / HOUR_MS)
    if (this.power) this.checkAlarms(now)
    else this.alarmCheckedAt = now
  }

  /** Ring every alarm whose time of day fell in (last check, now]; a jump of more than a day rings it once. */
  private checkAlarms (now: number): void {
    const from = this.alarmCheckedAt
    this.alarmCheckedAt = now
    if (now <= from) return
    for (const alarm of this.alarms.slice()) {
      const due = nextOccurrence(Math.max(from, alarm.setAt), alarm.minuteOfDay, this.utcOffset)
      if (due > now) continue
      if (!alarm.repeat) this.removeAlarms((a) => a === alarm)
      this.ctx.emitEvent('alarmRang', { time: alarm.time, label: alarm.label })
      this.vibrate(ALARM_VIBRATION_MS, 'alarm')
      this.ctx.stateChanged()
      if (!this.power) return
    }
  }

  telemetry (): Record<string, unknown> {
    if (!this.power) return { power: false, battery: this.batteryPercent, charging: this.charging }
    return {
      power: true,
      activity: this.activity,
      heartRate: Math.round(this.heartRate),
      steps: this.steps,
      spo2: this.spo2,
      battery: this.batteryPercent,
      charging: this.charging
    }
  }

  reported (): Record<string, unknown> {
    return {
      power: this.power,
      battery: this.batteryPercent,
      charging: this.charging,
      activity: this.activity,
      stepGoal: this.stepGoal,
      alarms: this.alarmList(),
      lastSync: this.lastSync
    }
  }
}

export class Band extends Device<'band'> {
  readonly body: BandCapability

  constructor (spec: DeviceSpec, runtime: DeviceRuntime) {
    super(spec, runtime)
    this.body = this.use(new BandCapability(this.context))
  }

  // The band's state, read (and in tests set) where it lives.
  get power (): boolean { return this.body.power }
  get battery (): number { return this.body.battery }
  set battery (percent: number) { this.body.battery = percent }
  get batteryPercent (): number { return this.body.batteryPercent }
  get charging (): boolean { return this.body.charging }
  get activity (): Activity { return this.body.activity }
  get heartRate (): number { return this.body.heartRate }
  get steps (): number { return this.body.steps }
  get spo2 (): number { return this.body.spo2 }
  get stepGoal (): number { return this.body.stepGoal }
  get lastSync (): number | null { return this.body.lastSync }
  get vibrating (): boolean { return this.body.vibrating }
  get wearer (): BandCapability['wearer'] { return this.body.wearer }
  /** The alarms set, earliest time of day first. */
  alarmList (): BandAlarm[] { return this.body.alarmList() }
}

/** Local hours treated as the night's sleep (23:00–07:00). */
function isSleepHour (hour: number): boolean {
  return hour >= 23 || hour < 7
}
