/**
 * Expectation conditions (`state`, `telemetry`, `events`, `messages`, `online`, `offline`) checked against what the
 * observer saw. Each check gives a verdict and a sentence a person can act on, naming the first few devices that
 * failed ("3 of 100 bands had sequence gaps: band-0004 (missing 12..14), …").
 */
import type { DeviceSpec } from '../devices/device.ts'
import type { Observer } from './observer.ts'
import type { Condition, TargetSelector } from './schema.ts'
import { describeTarget, targetMatcher } from './select.ts'

/** Devices named in a failure detail; the rest are counted ("…and 12 more"). */
export const MAX_LISTED = 5

export interface ConditionOutcome { ok: boolean; detail: string }

export interface ConditionContext {
  specs: readonly DeviceSpec[]
  observer: Observer
  /**
   * Each target's devices, resolved once: the fleet does not change during a run, and a check with `within`
   * evaluates its conditions every poll. Filled in by {@link evaluateCondition}.
   */
  selections?: WeakMap<TargetSelector, readonly DeviceSpec[]>
}

/** Missing ranges listed per device in a detail (the check itself uses every range). */
const MAX_RANGES_LISTED = 8

/** `telemetry of every band: ≥2 each, no gaps` */
export function describeCondition (c: Condition): string {
  switch (c.type) {
    case 'state':
      return `state of ${describeTarget(c.target)}: ${Object.entries(c.reported).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')}`
    case 'telemetry': {
      const rules = [`≥${c.min} each`]
      if (c.noSequenceGaps) rules.push('no gaps')
      if (c.noDuplicates) rules.push('no duplicates')
      if (c.inOrder) rules.push('in order')
      return `telemetry of ${describeTarget(c.target)}: ${rules.join(', ')}`
    }
    case 'events':
      return `${c.name} events from ${describeTarget(c.target)}: ${range(c.min, c.max)}`
    case 'messages':
      return `messages on ${c.topic}: ${range(c.min, c.max)}`
    case 'online':
    case 'offline':
      return `${describeTarget(c.target)} ${c.type}`
  }
}

function range (min: number, max: number | undefined): string {
  if (max === undefined) return `≥${min}`
  if (max === 0) return 'none'
  if (min === 0) return `≤${max}`
  return min === max ? `exactly ${min}` : `${min}..${max}`
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** `bands`, `speakers`, or `devices` when the selection mixes kinds. */
function noun (specs: readonly DeviceSpec[], n: number): string {
  const kind = specs[0]?.kind
  const same = kind !== undefined && specs.every((s) => s.kind === kind)
  return same ? (n === 1 ? kind : `${kind}s`) : (n === 1 ? 'device' : 'devices')
}

/** `a, b, c, d, e, …and 12 more` */
export function list (items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ')
  return items.length > MAX_LISTED ? `${shown}, …and ${items.length - MAX_LISTED} more` : shown
}

function select (ctx: ConditionContext, target: TargetSelector): readonly DeviceSpec[] {
  ctx.selections ??= new WeakMap()
  let specs = ctx.selections.get(target)
  if (specs === undefined) ctx.selections.set(target, specs = ctx.specs.filter(targetMatcher(target)))
  return specs
}

/** Check one condition now. */
export function evaluateCondition (c: Condition, ctx: ConditionContext): ConditionOutcome {
  switch (c.type) {
    case 'state': return checkState(c.target, c.reported, ctx)
    case 'telemetry': return checkTelemetry(c, ctx)
    case 'events': return checkEvents(c, ctx)
    case 'messages': {
      const n = ctx.observer.countMatching(c.topic)
      const ok = n >= c.min && (c.max === undefined || n <= c.max)
      return { ok, detail: `${plural(n, 'message')} on ${c.topic}${ok ? '' : `, expected ${range(c.min, c.max)}`}` }
    }
    case 'online':
    case 'offline': return checkPresence(c.type, c.target, ctx)
  }
}

function checkState (target: TargetSelector, expected: Record<string, unknown>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, target)
  const bad: string[] = []
  for (const s of specs) {
    const reported = ctx.observer.device(s.id)?.reported
    if (reported === undefined) { bad.push(`${s.id} (${ctx.observer.device(s.id)?.reportedUnreadable === true ? 'reported state unreadable: not a JSON object' : 'no reported state'})`); continue }
    const diffs: string[] = []
    for (const [k, v] of Object.entries(expected)) {
      if (!partialEqual(reported[k], v)) diffs.push(`${k} is ${show(reported[k])}, expected ${show(v)}`)
    }
    if (diffs.length > 0) bad.push(`${s.id} (${diffs.join('; ')})`)
  }
  if (bad.length === 0) return { ok: true, detail: `${specs.length === 1 ? specs[0]?.id as string : `all ${specs.length} ${noun(specs, specs.length)}`} reported ${Object.entries(expected).map(([k, v]) => `${k} ${show(v)}`).join(', ')}` }
  return { ok: false, detail: `${bad.length} of ${specs.length} ${noun(specs, specs.length)} differ${bad.length === 1 ? 's' : ''}: ${list(bad)}` }
}

function show (v: unknown): string {
  if (v === undefined) return 'missing'
  const s = JSON.stringify(v)
  return s.length > 60 ? `${s.slice(0, 57)}…` : s
}

/** `expected` is contained in `actual`: maps compare the expected keys only, recursively; everything else exactly. */
function partialEqual (actual: unknown, expected: unknown): boolean {
  if (typeof expected === 'object' && expected !== null && !Array.isArray(expected)) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false
    const a = actual as Record<string, unknown>
    return Object.entries(expected).every(([k, v]) => partialEqual(a[k], v))
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((v, i) => partialEqual(actual[i], v))
  }
  return Object.is(actual, expected) || actual === expected
}

function checkTelemetry (c: Extract<Condition, { type: 'telemetry' }>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, c.target)
  const few: string[] = []
  const gaps: string[] = []
  const dups: string[] = []
  const late: string[] = []
  let total = 0
  let lo = Infinity
  let hi = 0
  for (const s of specs) {
    const d = ctx.observer.device(s.id)
    const n = d?.telemetry ?? 0
    total += n
    lo = Math.min(lo, n)
    hi = Math.max(hi, n)
    if (n < c.min) few.push(`${s.id} (${n})`)
    if (d === undefined) continue
    if (c.noSequenceGaps && (d.missing > 0 || d.malformed > 0)) {
      const ranges = d.gaps.slice(0, MAX_RANGES_LISTED).map(([a, b]) => (a === b ? String(a) : `${a}..${b}`))
      gaps.push(`${s.id} (${d.malformed > 0 ? `${d.malformed} without seq` : `missing ${ranges.join(', ')}${d.gaps.length > MAX_RANGES_LISTED ? ', …' : ''}`})`)
    }
    if (c.noDuplicates && d.duplicates > 0) dups.push(`${s.id} (${d.duplicates})`)
    if (c.inOrder && d.outOfOrder > 0) late.push(`${s.id} (${d.outOfOrder})`)
  }
  const n = specs.length
  const what = noun(specs, n)
  const problems: string[] = []
  if (few.length > 0) problems.push(`${few.length} of ${n} ${what} sent fewer than ${c.min} telemetry message${c.min === 1 ? '' : 's'}: ${list(few)}`)
  if (gaps.length > 0) problems.push(`${gaps.length} of ${n} ${what} had sequence gaps: ${list(gaps)}`)
  if (dups.length > 0) problems.push(`${dups.length} of ${n} ${what} sent duplicates: ${list(dups)}`)
  if (late.length > 0) problems.push(`${late.length} of ${n} ${what} had messages out of order: ${list(late)}`)
  if (problems.length > 0) return { ok: false, detail: problems.join('; ') }
  const checks = [c.noSequenceGaps ? 'no gaps' : '', c.noDuplicates ? 'no duplicates' : '', c.inOrder ? 'in order' : ''].filter((x) => x !== '')
  return { ok: true, detail: `${n} ${what} sent ${total} telemetry messages (${n === 0 ? 0 : lo}..${hi} each)${checks.length > 0 ? `, ${checks.join(', ')}` : ''}` }
}

function checkEvents (c: Extract<Condition, { type: 'events' }>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, c.target)
  let total = 0
  const from: string[] = []
  for (const s of specs) {
    const n = ctx.observer.device(s.id)?.events?.get(c.name) ?? 0
    if (n > 0) { total += n; from.push(s.id) }
  }
  const ok = total >= c.min && (c.max === undefined || total <= c.max)
  const src = from.length === 0 ? `from ${specs.length} ${noun(specs, specs.length)}` : `from ${list(from)}`
  return { ok, detail: `${plural(total, `${c.name} event`)} ${src}${ok ? '' : `, expected ${range(c.min, c.max)}`}` }
}

function checkPresence (want: 'online' | 'offline', target: TargetSelector, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, target)
  const bad: string[] = []
  for (const s of specs) {
    const status = ctx.observer.device(s.id)?.status
    if (status !== want) bad.push(`${s.id} (${status ?? 'no status seen'})`)
  }
  const n = specs.length
  if (bad.length === 0) return { ok: true, detail: n === 1 ? `${specs[0]?.id as string} ${want}` : `all ${n} ${noun(specs, n)} ${want}` }
  return { ok: false, detail: `${bad.length} of ${n} ${noun(specs, n)} not ${want}: ${list(bad)}` }
}
