/**
 * Seeded randomness (brief: "the same scenario and seed give the same device behaviour"). Every random choice in
 * HomeFleet comes from a {@link Random}; each device gets its own stream with `fork(deviceId)`, so its behaviour
 * depends on the seed and its id only, not on how many devices were spawned before it or in what order they connected.
 */

/** FNV-1a 32-bit: a stable string hash to derive child seeds. */
export function hash32 (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export class Random {
  readonly seed: number
  private a: number
  private b: number
  private c: number
  private d: number
  private spareNormal: number | undefined

  constructor (seed: number | string = 1) {
    this.seed = typeof seed === 'string' ? hash32(seed) : seed >>> 0
    // sfc32, seeded through splitmix32 so that nearby seeds give unrelated streams.
    let s = this.seed
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = split(); this.b = split(); this.c = split(); this.d = split()
    for (let i = 0; i < 12; i++) this.next()
  }

  /** A child stream that depends only on this stream's seed and `label`. */
  fork (label: string): Random {
    return new Random(hash32(`${this.seed}:${label}`))
  }

  /** Uniform in [0, 1). */
  next (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** Uniform in [min, max). */
  float (min: number, max: number): number { return min + (max - min) * this.next() }

  /** Uniform integer in [min, max], both ends included. */
  int (min: number, max: number): number { return min + Math.floor(this.next() * (max - min + 1)) }

  chance (p: number): boolean { return this.next() < p }

  pick<T> (items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[Math.floor(this.next() * items.length)] as T
  }

  /** Normal deviate (Box–Muller, polar form). */
  normal (mean = 0, sd = 1): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal
      this.spareNormal = undefined
      return mean + sd * z
    }
    let u: number, v: number, s: number
    do {
      u = this.next() * 2 - 1
      v = this.next() * 2 - 1
      s = u * u + v * v
    } while (s >= 1 || s === 0)
    const m = Math.sqrt(-2 * Math.log(s) / s)
    this.spareNormal = v * m
    return mean + sd * u * m
  }

  /** Exponential deviate with the given rate (events per unit): the gaps between Poisson arrivals. */
  exponential (rate: number): number {
    return -Math.log(1 - this.next()) / rate
  }
}

export function clamp (x: number, min: number, max: number): number {
  return x < min ? min : x > max ? max : x
}
