import { describe, expect, it } from 'vitest'
import { VirtualClock, type Clock } from '../../core/clock.ts'
import { TelemetryScheduler, schedulerFor } from '../../devices/scheduler.ts'

describe('TelemetryScheduler', () => {
  it('runs any number of periodic tasks on one clock timer, each at its own cadence, within the resolution', () => {
    const clock = new VirtualClock(0)
    const s = new TelemetryScheduler(clock, 20)
    const runs: Array<Array<number>> = []
    for (let i = 0; i < 1000; i++) {
      const mine: number[] = []
      runs.push(mine)
      s.add(i * 7, 1000 + (i % 3) * 500, () => { mine.push(clock.now()) })
    }
    expect(clock.pending).toBe(1)
    clock.advance(10_000)
    expect(clock.pending).toBe(1)
    for (let i = 0; i < 1000; i++) {
      const interval = 1000 + (i % 3) * 500
      const expected = Math.floor((10_000 - i * 7) / interval) + 1
      expect(runs[i]!.length, `task ${i}`).toBe(expected)
      runs[i]!.forEach((at, k) => {
        const due = i * 7 + k * interval
        expect(at - due, `task ${i} run ${k}`).toBeGreaterThanOrEqual(0)
        expect(at - due, `task ${i} run ${k}`).toBeLessThan(20)
      })
    }
  })

  it('releases the clock timer when the last task is cancelled, and tolerates a task cancelling itself', () => {
    const clock = new VirtualClock(0)
    const s = new TelemetryScheduler(clock)
    let n = 0
    const self = s.add(0, 100, () => { n++; if (n === 3) s.cancel(self) })
    const other = s.add(50, 100, () => undefined)
    clock.advance(1000)
    expect(n).toBe(3)
    expect(s.size).toBe(1)
    s.cancel(other)
    s.cancel(other)
    expect(s.size).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('a task that throws does not keep the others from running, and the scheduler keeps going', () => {
    const clock = new VirtualClock(0)
    const s = new TelemetryScheduler(clock)
    let ok = 0
    s.add(0, 100, () => { throw new Error('boom') })
    s.add(0, 100, () => { ok++ })
    expect(() => { clock.advance(0) }).toThrow('boom')
    expect(ok).toBe(1)
    expect(() => { clock.advance(100) }).toThrow('boom')
    expect(ok).toBe(2)
  })

  it('skips ticks more than an interval late instead of bursting them after a stall', () => {
    // A clock whose now() can jump ahead of its timers, as an overloaded event loop's timers fire late.
    const base = new VirtualClock(0)
    let lag = 0
    const clock: Clock = { now: () => base.now() + lag, setTimeout: (fn, ms) => base.setTimeout(fn, ms), setInterval: (fn, ms) => base.setInterval(fn, ms), clearTimer: (h) => { base.clearTimer(h) }, sleep: (ms) => base.sleep(ms) }
    const s = new TelemetryScheduler(clock, 20)
    const at: number[] = []
    s.add(0, 100, () => { at.push(clock.now()) })
    base.advance(0)
    expect(at).toEqual([0])
    lag = 1000 // the next timer fires ten intervals late
    base.advance(100)
    // The late tick, then the phase is kept and the missed ones are skipped: not eleven ticks at once.
    expect(at).toEqual([0, 1100, 1100])
    base.advance(100)
    expect(at).toEqual([0, 1100, 1100, 1200])
  })

  it('is shared by everything on one clock', () => {
    const clock = new VirtualClock(0)
    expect(schedulerFor(clock)).toBe(schedulerFor(clock))
    expect(schedulerFor(new VirtualClock(0))).not.toBe(schedulerFor(clock))
  })
})
