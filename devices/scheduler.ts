/**
 * One telemetry scheduler per clock instead of a timer per device: a fleet of 100,000 devices would otherwise keep
 * 100,000 interval timers (each an object in the event loop's timer lists, each firing on its own). Entries are
 * kept in buckets of `resolutionMs` of clock time (a sorted bucket per tick, like a timing wheel without the
 * wrap-around), and one clock timer is armed for the earliest bucket; when it fires, every entry in the due
 * buckets runs and is put back one interval later. Devices share the scheduler of their clock automatically
 * ({@link schedulerFor}), so no wiring is needed and unit tests on a `VirtualClock` see the same behaviour.
 *
 * The price: a tick runs up to `resolutionMs` after its exact due time (the `ts` it reads is the bucket's time).
 * A tick more than a whole interval late is skipped, as `setInterval` skips: after a stall, the normal rate resumes
 * instead of a burst of every missed tick.
 * Simulation does not depend on it: a device steps by its nominal interval, not by measured time.
 */
import type { Clock, TimerHandle } from '../core/clock.ts'

/** Default bucket width, clock milliseconds: 50 firings a second at most, whatever the fleet size. */
export const DEFAULT_RESOLUTION_MS = 20

/** A scheduled periodic task. Keep it to cancel. */
export interface ScheduledTask {
  /** Clock time of the next run. */
  readonly due: number
  readonly intervalMs: number
}

interface Entry extends ScheduledTask {
  due: number
  readonly intervalMs: number
  readonly run: () => void
  live: boolean
}

export class TelemetryScheduler {
  readonly clock: Clock
  readonly resolutionMs: number
  /** Entries by bucket number (`ceil(due / resolution)`). */
  private readonly buckets = new Map<number, Entry[]>()
  /** Bucket numbers in use, as a binary min-heap. */
  private readonly heap: number[] = []
  private timer: TimerHandle | undefined
  private armedFor = Infinity
  private liveCount = 0
  private running = false

  constructor (clock: Clock, resolutionMs = DEFAULT_RESOLUTION_MS) {
    if (!(resolutionMs >= 1) || !Number.isFinite(resolutionMs)) throw new RangeError(`scheduler resolution must be at least 1 ms, got ${resolutionMs}`)
    this.clock = clock
    this.resolutionMs = resolutionMs
  }

  /** Tasks scheduled and not cancelled. */
  get size (): number { return this.liveCount }

  /**
   * Run `run` after `firstDelayMs`, then every `intervalMs` (clock time) until {@link cancel}. A throw from `run` is
   * the caller's to catch: the scheduler lets it propagate only after every other due task has run.
   */
  add (firstDelayMs: number, intervalMs: number, run: () => void): ScheduledTask {
    if (!(intervalMs >= 1)) throw new RangeError(`interval must be at least 1 ms, got ${intervalMs}`)
    const entry: Entry = { due: this.clock.now() + Math.max(0, firstDelayMs), intervalMs, run, live: true }
    this.liveCount++
    this.insert(entry)
    this.arm()
    return entry
  }

  /** Stop a task. Idempotent. With nothing left, the clock timer is released (a stopped fleet holds no timer). */
  cancel (task: ScheduledTask | undefined): void {
    const entry = task as Entry | undefined
    if (entry === undefined || !entry.live) return
    entry.live = false
    this.liveCount--
    if (this.liveCount === 0) this.clear()
  }

  private clear (): void {
    this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
    this.buckets.clear()
    this.heap.length = 0
  }

  private insert (entry: Entry): void {
    const n = Math.ceil(entry.due / this.resolutionMs)
    let bucket = this.buckets.get(n)
    if (bucket === undefined) {
      bucket = []
      this.buckets.set(n, bucket)
      heapPush(this.heap, n)
    }
    bucket.push(entry)
  }

  private arm (): void {
    if (this.running) return // fire() re-arms when it is done
    const next = this.heap[0]
    if (next === undefined || next >= this.armedFor) return
    this.clock.clearTimer(this.timer)
    this.armedFor = next
    this.timer = this.clock.setTimeout(() => { this.fire() }, next * this.resolutionMs - this.clock.now())
  }

  private fire (): void {
    // The bucket the timer was armed for is due even if a scaled clock's rounding reads a hair earlier.
    const armed = this.armedFor
    this.timer = undefined
    this.armedFor = Infinity
    this.running = true
    let failure: unknown
    try {
      const nowBucket = Math.max(armed, Math.floor(this.clock.now() / this.resolutionMs))
      for (;;) {
        const n = this.heap[0]
        if (n === undefined || n > nowBucket) break
        heapPop(this.heap)
        const bucket = this.buckets.get(n) as Entry[]
        this.buckets.delete(n)
        const now = this.clock.now()
        for (const entry of bucket) {
          if (!entry.live) continue
          entry.due += entry.intervalMs
          // More than a whole interval late (a blocked event loop, an overloaded process): skip the missed ticks,
          // as setInterval does, so a stall is followed by the normal rate, not a burst of every tick it missed.
          if (entry.due <= now - entry.intervalMs) entry.due += Math.ceil((now - entry.intervalMs - entry.due + 1) / entry.intervalMs) * entry.intervalMs
          // A run may cancel its own task (a device stopping from inside a tick): only re-insert live ones.
          try {
            entry.run()
          } catch (err) {
            failure ??= err
          }
          if (entry.live) this.insert(entry)
        }
      }
    } finally {
      this.running = false
      if (this.liveCount > 0) this.arm()
    }
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error('a scheduled task threw a non-error', { cause: failure })
  }
}

const schedulers = new WeakMap<Clock, TelemetryScheduler>()

/** The scheduler every device on this clock shares (made on first use). */
export function schedulerFor (clock: Clock): TelemetryScheduler {
  let s = schedulers.get(clock)
  if (s === undefined) { s = new TelemetryScheduler(clock); schedulers.set(clock, s) }
  return s
}

function heapPush (heap: number[], n: number): void {
  heap.push(n)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if ((heap[parent] as number) <= n) break
    heap[i] = heap[parent] as number
    i = parent
  }
  heap[i] = n
}

function heapPop (heap: number[]): void {
  const last = heap.pop() as number
  if (heap.length === 0) return
  let i = 0
  const len = heap.length
  for (;;) {
    const l = 2 * i + 1
    if (l >= len) break
    const r = l + 1
    const c = r < len && (heap[r] as number) < (heap[l] as number) ? r : l
    if ((heap[c] as number) >= last) break
    heap[i] = heap[c] as number
    i = c
  }
  heap[i] = last
}
