import { describe, expect, it, vi } from 'vitest'
import { Random } from '../../core/random.ts'
import { delay, fanOutSignal, ScaledClock, VirtualClock } from '../../core/clock.ts'

describe('Random', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const seq = (seed: number): number[] => { const r = new Random(seed); return Array.from({ length: 50 }, () => r.next()) }
    expect(seq(7)).toEqual(seq(7))
    expect(seq(7)).not.toEqual(seq(8))
  })

  it('forks child streams that depend on the label only, not on draw order', () => {
    const a = new Random(3)
    const b = new Random(3)
    b.next(); b.next()
    expect(a.fork('dev-1').next()).toBe(b.fork('dev-1').next())
    expect(a.fork('dev-1').next()).not.toBe(a.fork('dev-2').next())
  })

  it('stays in range and has the expected mean', () => {
    const r = new Random(11)
    let sum = 0
    for (let i = 0; i < 20_000; i++) {
      const x = r.int(1, 6)
      expect(x).toBeGreaterThanOrEqual(1)
      expect(x).toBeLessThanOrEqual(6)
      sum += x
    }
    expect(sum / 20_000).toBeCloseTo(3.5, 1)
    let n = 0
    for (let i = 0; i < 20_000; i++) n += r.normal(10, 2)
    expect(n / 20_000).toBeCloseTo(10, 1)
  })
})

describe('VirtualClock', () => {
  it('fires timers in time order only when advanced', () => {
    const c = new VirtualClock(0)
    const fired: string[] = []
    c.setTimeout(() => fired.push(`b@${c.now()}`), 200)
    c.setTimeout(() => fired.push(`a@${c.now()}`), 100)
    const iv = c.setInterval(() => fired.push(`i@${c.now()}`), 150)
    expect(fired).toEqual([])
    c.advance(320)
    expect(fired).toEqual(['a@100', 'i@150', 'b@200', 'i@300'])
    c.clearTimer(iv)
    c.advance(1000)
    expect(fired).toHaveLength(4)
    expect(c.pending).toBe(0)
  })

  it('sleep resolves after virtual time and rejects on abort', async () => {
    const c = new VirtualClock(0)
    const done = c.sleep(50)
    c.advance(50)
    await expect(done).resolves.toBeUndefined()
    const ac = new AbortController()
    const aborted = c.sleep(50, ac.signal)
    ac.abort(new Error('stop'))
    await expect(aborted).rejects.toThrow('stop')
    expect(c.pending).toBe(0)
  })
})

describe('ScaledClock', () => {
  it('sleeps ms / speed of wall time while now() runs speed times as fast, and cleans up its timers', async () => {
    // Fake timers and a fake Date.now, no sockets: wall time moves only when the test says so.
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) })
    try {
      const c = new ScaledClock(50)
      const t0 = c.now()
      let woke = false
      const slept = c.sleep(1000).then(() => { woke = true })
      expect(c.pending).toBe(1)
      await vi.advanceTimersByTimeAsync(19) // 950 ms of clock time: not yet
      expect(woke).toBe(false)
      expect(c.now() - t0).toBe(950)
      await vi.advanceTimersByTimeAsync(1) // 20 ms of wall time = 1000 ms of clock time
      expect(woke).toBe(true)
      await slept
      expect(c.now() - t0).toBe(1000)
      expect(c.pending).toBe(0)
    } finally {
      vi.useRealTimers()
    }
    expect(() => new ScaledClock(0)).toThrow(RangeError)
  })

  it('starts at a given instant, so time-of-day behaviour does not depend on when a run happens', () => {
    const start = Date.UTC(2026, 5, 12, 19, 0, 0)
    const c = new ScaledClock(1, start)
    expect(c.startAt).toBe(start)
    expect(c.now() - start).toBeGreaterThanOrEqual(0)
    expect(c.now() - start).toBeLessThan(60_000)
  })
})

describe('fanOutSignal and delay', () => {
  it('relays an abort to many waiters through one listener, without a MaxListeners warning', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { warnings.push(w) }
    process.on('warning', onWarning)
    const outer = new AbortController()
    const fan = fanOutSignal(outer.signal)
    const waits = Array.from({ length: 50 }, () => delay(60_000, fan.signal))
    outer.abort(new Error('stop'))
    await Promise.all(waits)
    expect(fan.signal?.aborted).toBe(true)
    fan.dispose()
    await new Promise((resolve) => setImmediate(resolve))
    process.off('warning', onWarning)
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
  })

  it('is a no-op without an outer signal', () => {
    const fan = fanOutSignal(undefined)
    expect(fan.signal).toBeUndefined()
    fan.dispose()
  })
})
