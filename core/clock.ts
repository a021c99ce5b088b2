/**
 * One injectable clock. Devices, fleets and scenarios read time and set timers
 * only through a {@link Clock}, so tests can use {@link VirtualClock} and scenarios can run faster than real time
 * with {@link ScaledClock}. Never mix a VirtualClock with real sockets in one test.
 */
import { setMaxListeners } from 'node:events'

export interface TimerHandle { readonly id: number }

export interface Clock {
  /** Milliseconds since the Unix epoch, in this clock's time. */
  now (): number
  setTimeout (fn: () => void, ms: number): TimerHandle
  setInterval (fn: () => void, ms: number): TimerHandle
  clearTimer (handle: TimerHandle | undefined): void
  /** Resolves after `ms` of this clock's time; rejects with the signal's reason when aborted. */
  sleep (ms: number, signal?: AbortSignal): Promise<void>
}

let nextId = 1

/**
 * Real time, optionally sped up: with `speed` 10 a 60 s scenario runs in 6 s of wall time, and `now()` advances
 * ten times as fast from the moment the clock was made. Timers fire no faster than the event loop allows.
 */
export class ScaledClock implements Clock {
  readonly speed: number
  private readonly origin = Date.now()
  /** What `now()` read when the clock was made: the wall time, or the given start. */
  readonly startAt: number
  private readonly timers = new Map<number, NodeJS.Timeout>()

  /**
   * @param speed how many times faster than the wall this clock runs
   * @param startAt the time `now()` reads at construction (default: the wall time). A fixed start makes
   *   time-of-day behaviour (a band's night, a camera's daylight) the same in every run of a scenario.
   */
  constructor (speed = 1, startAt?: number) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`clock speed must be a positive number, got ${speed}`)
    if (startAt !== undefined && !Number.isFinite(startAt)) throw new RangeError(`clock start must be a finite time, got ${startAt}`)
    this.speed = speed
    this.startAt = startAt ?? this.origin
  }

  now (): number {
    if (this.speed === 1 && this.startAt === this.origin) return Date.now()
    return this.startAt + Math.round((Date.now() - this.origin) * this.speed)
  }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    const t = setTimeout(() => { this.timers.delete(id); fn() }, Math.max(0, ms / this.speed))
    this.timers.set(id, t)
    return { id }
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    this.timers.set(id, setInterval(fn, Math.max(1, ms / this.speed)))
    return { id }
  }

  clearTimer (handle: TimerHandle | undefined): void {
    if (handle === undefined) return
    const t = this.timers.get(handle.id)
    if (t !== undefined) { clearTimeout(t); this.timers.delete(handle.id) }
  }

  sleep (ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal)
  }

  /** Timers still pending: tests check it is 0 after `stop()`. */
  get pending (): number { return this.timers.size }
}

/** The process clock: real time, speed 1. */
export const systemClock: Clock = new ScaledClock(1)

interface VirtualTimer { id: number; at: number; fn: () => void; every: number | undefined }

/**
 * Virtual time for unit tests: nothing happens until {@link VirtualClock.advance} moves time on, and timers then
 * fire in time order, each seeing `now()` equal to its due time.
 */
export class VirtualClock implements Clock {
  private t: number
  private readonly timers = new Map<number, VirtualTimer>()

  constructor (start = Date.UTC(2026, 0, 1, 8, 0, 0)) { this.t = start }

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn, every: undefined })
    return { id }
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    const every = Math.max(1, ms)
    this.timers.set(id, { id, at: this.t + every, fn, every })
    return { id }
  }

  clearTimer (handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete(handle.id)
  }

  sleep (ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal)
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance (ms: number): void {
    const end = this.t + ms
    for (;;) {
      let next: VirtualTimer | undefined
      for (const timer of this.timers.values()) if (timer.at <= end && (next === undefined || timer.at < next.at)) next = timer
      if (next === undefined) break
      this.t = next.at
      if (next.every === undefined) this.timers.delete(next.id)
      else next.at += next.every
      next.fn()
    }
    this.t = end
  }

  get pending (): number { return this.timers.size }
}

function sleepOn (clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) { reject(signal.reason as Error); return }
    const onAbort = (): void => { clock.clearTimer(handle); reject(signal?.reason as Error) }
    const handle = clock.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * A signal that follows `outer` through one listener, and that any number of waits may listen on: a long timeline
 * or a fleet's many connect workers would otherwise trip Node's MaxListenersExceededWarning on the caller's signal.
 * Call `dispose()` when done, to remove the one listener from `outer`.
 */
export function fanOutSignal (outer: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (outer === undefined) return { signal: undefined, dispose: () => undefined }
  const inner = new AbortController()
  setMaxListeners(0, inner.signal)
  const relay = (): void => { inner.abort(outer.reason) }
  if (outer.aborted) relay()
  else outer.addEventListener('abort', relay, { once: true })
  return { signal: inner.signal, dispose: () => { outer.removeEventListener('abort', relay) } }
}

/**
 * Wall-time delay that resolves after `ms`, or at once when `signal` aborts (never rejects: the caller checks
 * `signal.aborted` afterwards). For pacing and timelines measured against the wall, not a device clock.
 */
export function delay (ms: number, signal?: AbortSignal): Promise<void> {
  // sleep() rejects with the abort reason (and clears its timer); a delay turns that into resolving.
  return systemClock.sleep(ms, signal).catch(() => undefined)
}
