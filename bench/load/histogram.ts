/**
 * A latency histogram in the manner of HdrHistogram: log-linear buckets (64 per power of two, so every recorded
 * value is kept to within 1/64 ≈ 1.6 % of its size) over microseconds from 0 to 2^32 µs (71 minutes), in one
 * fixed `Float64Array`. Recording is O(1) and allocation-free; histograms from worker threads merge by adding their
 * arrays, which is why this small one is ours rather than a dependency (see docs/ARCHITECTURE.md).
 */
const SUB_BITS = 6
const SUB = 1 << SUB_BITS // 64
const LINEAR = SUB * 2 // values below 128 µs are exact
const MAX_MAGNITUDE = 32
/** Number of buckets: exact values below 128, then 64 per power of two up to 2^32. */
export const BUCKETS = (MAX_MAGNITUDE - SUB_BITS) * SUB + SUB

function indexOf (micros: number): number {
  const v = micros < 0 ? 0 : Math.floor(micros)
  if (v < LINEAR) return v
  const magnitude = Math.floor(Math.log2(v))
  if (magnitude >= MAX_MAGNITUDE) return BUCKETS - 1
  const shift = magnitude - SUB_BITS
  return shift * SUB + Math.floor(v / 2 ** shift)
}

/** The highest value a bucket holds (HdrHistogram reports this "highest equivalent value"). */
function highestOf (index: number): number {
  if (index < LINEAR) return index
  const shift = Math.floor(index / SUB) - 1
  const sub = index - shift * SUB
  return (sub + 1) * 2 ** shift - 1
}

export class LatencyHistogram {
  readonly counts: Float64Array
  count = 0
  /** Exact extremes, kept apart from the buckets. */
  min = Number.POSITIVE_INFINITY
  max = 0

  constructor (counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(BUCKETS)
    if (counts !== undefined) for (let i = 0; i < counts.length; i++) this.count += counts[i] as number
  }

  /** Record one latency, in microseconds. */
  record (micros: number): void {
    const i = indexOf(micros)
    this.counts[i] = (this.counts[i] as number) + 1
    this.count++
    if (micros < this.min) this.min = micros
    if (micros > this.max) this.max = micros
  }

  /** Add another histogram's counts into this one. */
  add (other: { counts: Float64Array; min: number; max: number }): void {
    for (let i = 0; i < BUCKETS; i++) {
      const c = other.counts[i] as number
      if (c !== 0) { this.counts[i] = (this.counts[i] as number) + c; this.count += c }
    }
    if (other.min < this.min) this.min = other.min
    if (other.max > this.max) this.max = other.max
  }

  reset (): void {
    this.counts.fill(0)
    this.count = 0
    this.min = Number.POSITIVE_INFINITY
    this.max = 0
  }

  /**
   * The value at percentile `p` (0–100), in microseconds: the highest value of the bucket holding the
   * ceil(p/100 × count)-th smallest value, capped at the exact maximum. 0 when empty.
   */
  percentile (p: number): number {
    if (this.count === 0) return 0
    if (p >= 100) return this.max
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number
      if (seen >= rank) return Math.min(highestOf(i), this.max)
    }
    return this.max
  }
}
