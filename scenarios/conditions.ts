/**
 * Expectation conditions (`state`, `telemetry`, `events`, `messages`, `online`, `offline`) checked against what the
 * observer saw. Each check gives a verdict and a sentence a person can act on, naming the first few devices that
 * failed ("3 of 100 bands had sequence gaps: band-0004 (missing 12..14), …").
 *
 * The verdict is about the devices, never about the observer. The fleet runs in this process, so when what the
 * observer saw falls short, the devices' own account ({@link DeviceTruth}: what each says it sent, its state, its
 * connection) decides: a device that did its part while the observer missed its messages (a broker dropping
 * messages to a slow subscriber, a reconnect) makes the condition `inconclusive`, not `failed`; a device that did
 * not makes it `failed`.
 */
import type { DeploymentStatus } from '../bridge/rollout/engine.ts'
import type { DeploymentPhase } from '../bridge/rollout/model.ts'
import { AgentState } from '../core/device-update.ts'
import type { DeviceSpec } from '../devices/device.ts'
import type { Observer } from './observer.ts'
import type { AgentStateName, Comparison, Condition, DeploymentCondition, TargetSelector } from './schema.ts'
import { describeTarget, targetMatcher } from './select.ts'

/** Devices named in a failure detail; the rest are counted ("…and 12 more"). */
export const MAX_LISTED = 5

/** `inconclusive`: the observer missed what it needed to decide; neither a pass nor a device failure. */
export type Verdict = 'passed' | 'failed' | 'inconclusive'

export interface ConditionOutcome { verdict: Verdict; detail: string }

/** What a device says about itself: its counters, its state and its connection. */
export interface DeviceTruth {
  connected: boolean
  /** Messages it published, every channel. */
  sent: number
  telemetrySent: number
  eventsSent: number
  /** Messages it gave up on itself (its offline queue was full); a sequence gap these explain is the device's. */
  dropped: number
  /** The reported state it would publish now. */
  reported: () => Record<string, unknown>
}

export interface ConditionContext {
  specs: readonly DeviceSpec[]
  observer: Observer
  /** The devices' own account, when the fleet runs in this process; without it every shortfall is a failure. */
  truth?: (id: string) => DeviceTruth | undefined
  /**
   * Each target's devices, resolved once: the fleet does not change during a run, and a check with `within`
   * evaluates its conditions every poll. Filled in by {@link evaluateCondition}.
   */
  selections?: WeakMap<TargetSelector, readonly DeviceSpec[]>
  /**
   * The latest status the run's rollout service published for a deployment (its retained status topic), when the run
   * has one (scenarios/rollout.ts); `running` says whether the service is up now.
   */
  rollouts?: { status: (id: string) => DeploymentStatus | undefined; running: () => boolean }
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
    case 'deployment':
      return describeDeployment(c)
    case 'firmware':
      return `firmware of ${describeTarget(c.target)}: ${c.version}${c.agentState === undefined ? '' : `, update agent ${c.agentState}`}`
    case 'offers':
      return `offers${c.deployment === undefined ? '' : ` of ${c.deployment}`} to ${describeTarget(c.target)}: ${range(c.min, c.max)}${c.max === 0 ? '' : ' each'}`
  }
}

/** `≥ 5%`, `= 4` */
export function showComparison (c: Comparison, unit = ''): string {
  const op = c.op === '>=' ? '≥' : c.op === '<=' ? '≤' : c.op
  return `${op} ${c.value}${unit}`
}

function compare (actual: number, c: Comparison): boolean {
  switch (c.op) {
    case '=': return actual === c.value
    case '>=': return actual >= c.value
    case '<=': return actual <= c.value
    case '>': return actual > c.value
    case '<': return actual < c.value
  }
}

/** Phases a deployment stops in, with a halt record: how a condition names the stop. */
const STOP_PHASES: Partial<Record<DeploymentPhase, string>> = { halted: 'halted', aborted: 'aborted', rolledBack: 'rolled back' }

/** A phase as words: `rolled back` for `rolledBack`, the others as they are. */
function phaseWords (phase: DeploymentPhase): string {
  return STOP_PHASES[phase] ?? phase
}

/**
 * `deployment canary: rolled back, halted in wave 2 with a failure rate ≥ 5%`. A stop phase and `halt` together are
 * one clause (`aborted in wave 1`, not `aborted, halted in wave 1`).
 */
function describeDeployment (c: DeploymentCondition): string {
  const parts: string[] = []
  const stop = c.phase === undefined ? undefined : STOP_PHASES[c.phase]
  if (c.state !== undefined) parts.push(c.state)
  if (c.phase !== undefined && (c.halt === undefined || stop === undefined)) parts.push(phaseWords(c.phase))
  if (c.rolledBack !== undefined && !(c.rolledBack && c.phase === 'rolledBack')) parts.push(c.rolledBack ? 'rolled back' : 'not rolled back')
  if (c.wave !== undefined) parts.push(`in wave ${c.wave}`)
  if (c.halt !== undefined) parts.push(`${stop ?? 'halted'}${haltWords(c.halt)}`)
  if (c.failureRate !== undefined) parts.push(`failure rate ${showComparison(c.failureRate, '%')}`)
  for (const [state, cmp] of Object.entries(c.counts ?? {})) parts.push(`${state} ${showComparison(cmp)}`)
  return `deployment ${c.id}${parts.length === 0 ? ' exists' : `: ${parts.join(', ')}`}`
}

/** ` in wave 2 with a failure rate ≥ 5% (/threshold/)` */
function haltWords (h: NonNullable<DeploymentCondition['halt']>): string {
  return `${h.wave === undefined ? '' : ` in wave ${h.wave}`}${h.failureRate === undefined ? '' : ` with a failure rate ${showComparison(h.failureRate, '%')}`}${h.reason === undefined ? '' : ` (/${h.reason}/)`}`
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

/** Messages the device says it sent that the observer did not see (0 without the device's account). */
function missedFrom (ctx: ConditionContext, id: string): number {
  const t = ctx.truth?.(id)
  if (t === undefined) return 0
  return Math.max(0, t.sent - (ctx.observer.device(id)?.messages ?? 0))
}

/** Messages missed by the observer across the fleet. */
export function observerMissed (ctx: ConditionContext): number {
  if (ctx.truth === undefined) return 0
  let n = 0
  for (const s of ctx.specs) n += missedFrom(ctx, s.id)
  return n
}

/**
 * The verdict over devices sorted into `bad` (the device's own failure) and `unseen` (the device did its part as far
 * as it knows; the observer missed the messages that would show it).
 */
function verdictOf (bad: readonly string[], unseen: readonly string[], n: number, what: string, failure: string, success: string): ConditionOutcome {
  if (bad.length > 0) {
    const also = unseen.length > 0 ? ` (and ${unseen.length} could not be checked)` : ''
    return { verdict: 'failed', detail: `${failure}${also}` }
  }
  if (unseen.length > 0) return { verdict: 'inconclusive', detail: `could not check ${unseen.length} of ${n} ${what}: the observer missed their messages: ${list(unseen)}` }
  return { verdict: 'passed', detail: success }
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
      const detail = `${plural(n, 'message')} on ${c.topic}${ok ? '' : `, expected ${range(c.min, c.max)}`}`
      if (ok) return { verdict: 'passed', detail }
      // Too few, while the observer is known to have missed messages: the count says nothing about the devices.
      const missed = n < c.min ? observerMissed(ctx) : 0
      if (missed > 0) return { verdict: 'inconclusive', detail: `${detail}; the observer missed ${plural(missed, 'message')} the devices sent, so the count cannot be checked` }
      return { verdict: 'failed', detail }
    }
    case 'online':
    case 'offline': return checkPresence(c.type, c.target, ctx)
    case 'deployment': return checkDeployment(c, ctx)
    case 'firmware': return checkFirmware(c, ctx)
    case 'offers': return checkOffers(c, ctx)
  }
}

/**
 * The deployment as the rollout service last published it (its retained status topic): each field given is compared,
 * and the detail says what was expected and what the service reports.
 */
function checkDeployment (c: DeploymentCondition, ctx: ConditionContext): ConditionOutcome {
  const s = ctx.rollouts?.status(c.id)
  if (s === undefined) {
    const why = ctx.rollouts === undefined ? 'this run has no rollout service' : ctx.rollouts.running() ? 'the rollout service has published no status of it' : 'the rollout service is down and published no status of it'
    return { verdict: 'failed', detail: `deployment ${c.id}: no status (${why})` }
  }
  const wrong: string[] = []
  const rate = (n: number | undefined): string => (n === undefined ? 'none' : `${Math.round(n * 100) / 100}%`)
  if (c.state !== undefined && s.state !== c.state) wrong.push(`state is ${s.state}, expected ${c.state}`)
  const stop = c.phase === undefined ? undefined : STOP_PHASES[c.phase]
  // A stop phase expected with a halt that did not happen is one mistake, said once.
  const missedStop = c.halt !== undefined && stop !== undefined && s.halt === undefined ? `${stop}${haltWords(c.halt)}` : undefined
  if (c.phase !== undefined && s.phase !== c.phase) wrong.push(`phase is ${s.phase}, expected ${missedStop ?? c.phase}`)
  if (c.rolledBack !== undefined) {
    const rolled = s.phase === 'rolledBack' && s.rolledBackBy !== undefined
    if (rolled !== c.rolledBack) wrong.push(c.rolledBack ? `not rolled back (phase ${s.phase}), expected rolled back` : `rolled back by ${s.rolledBackBy ?? '?'}, expected not`)
  }
  if (c.wave !== undefined && s.currentWave + 1 !== c.wave) wrong.push(`in wave ${s.currentWave + 1} of ${s.waves.length}, expected wave ${c.wave}`)
  if (c.halt !== undefined) {
    const h = s.halt
    if (h === undefined) {
      if (missedStop === undefined || s.phase === c.phase) wrong.push(`not halted (phase ${s.phase}), expected ${stop ?? 'halted'}${haltWords(c.halt)}`)
    } else {
      if (c.halt.wave !== undefined && h.wave !== c.halt.wave) wrong.push(`halted in wave ${h.wave}, expected wave ${c.halt.wave}`)
      if (c.halt.failureRate !== undefined && !compare(h.failureRate ?? 0, c.halt.failureRate)) wrong.push(`halted with a failure rate of ${rate(h.failureRate)}, expected ${showComparison(c.halt.failureRate, '%')}`)
      if (c.halt.reason !== undefined && !new RegExp(c.halt.reason, 'i').test(h.reason)) wrong.push(`halted because "${h.reason}", expected /${c.halt.reason}/`)
    }
  }
  if (c.failureRate !== undefined && !compare(s.failureRate, c.failureRate)) wrong.push(`failure rate is ${rate(s.failureRate)}, expected ${showComparison(c.failureRate, '%')}`)
  for (const [state, cmp] of Object.entries(c.counts ?? {})) {
    const n = s.counts[state as keyof typeof s.counts]
    if (!compare(n, cmp)) wrong.push(`${state} is ${n}, expected ${showComparison(cmp)}`)
  }
  const counts = Object.entries(s.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'no devices'
  const summary = `${s.state} (${s.phase}), wave ${s.currentWave + 1} of ${s.waves.length}, ${counts}${s.halt === undefined ? '' : `; halted in wave ${s.halt.wave}: ${s.halt.reason}`}`
  if (wrong.length > 0) return { verdict: 'failed', detail: `deployment ${c.id}: ${wrong.join('; ')} (${summary})` }
  return { verdict: 'passed', detail: `deployment ${c.id}: ${summary}` }
}

const AGENT_STATE_CODES: Record<AgentStateName, number> = { idle: AgentState.Idle, inProgress: AgentState.DeploymentInProgress, failed: AgentState.Failed }
const AGENT_STATE_NAMES = new Map<number, string>(Object.entries(AGENT_STATE_CODES).map(([k, v]) => [v, k]))

/** The firmware and update agent state a reported twin shows. */
function firmwareOf (reported: Record<string, unknown>): { firmware: unknown; agentState: number | undefined } {
  const agent = (reported.deviceUpdate as { agent?: { state?: unknown } } | undefined)?.agent
  return { firmware: reported.firmware, agentState: typeof agent?.state === 'number' ? agent.state : undefined }
}

function checkFirmware (c: Extract<Condition, { type: 'firmware' }>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, c.target)
  const bad: string[] = []
  const unseen: string[] = []
  const want = c.agentState === undefined ? undefined : AGENT_STATE_CODES[c.agentState]
  const differs = (r: Record<string, unknown>): string | undefined => {
    const { firmware, agentState } = firmwareOf(r)
    const why: string[] = []
    if (firmware !== c.version) why.push(`on ${typeof firmware === 'string' ? firmware : show(firmware)}`)
    if (want !== undefined && agentState !== want) why.push(`agent ${agentState === undefined ? 'not reporting' : AGENT_STATE_NAMES.get(agentState) ?? String(agentState)}`)
    return why.length === 0 ? undefined : why.join(', ')
  }
  const versions = new Map<string, number>()
  for (const s of specs) {
    const reported = ctx.observer.device(s.id)?.reported
    const why = reported === undefined ? 'no reported state' : differs(reported)
    if (why === undefined) continue
    const fw = reported === undefined ? 'unknown' : String(firmwareOf(reported).firmware)
    versions.set(fw, (versions.get(fw) ?? 0) + 1)
    const truth = ctx.truth?.(s.id)
    const missed = missedFrom(ctx, s.id)
    if (truth !== undefined && missed > 0 && differs(truth.reported()) === undefined) unseen.push(`${s.id} (${why}; ${missed} of its messages missed)`)
    else bad.push(`${s.id} (${why})`)
  }
  const n = specs.length
  const what = noun(specs, n)
  const others = [...versions.entries()].map(([v, k]) => `${k} on ${v}`).join(', ')
  return verdictOf(bad, unseen, n, what,
    `${bad.length} of ${n} ${what} not on ${c.version}${want === undefined ? '' : ` with the agent ${c.agentState as string}`} (${others}): ${list(bad)}`,
    `${n === 1 ? specs[0]?.id as string : `all ${n} ${what}`} on ${c.version}${want === undefined ? '' : `, agent ${c.agentState as string}`}`)
}

/** Offers each selected device's desired twin received during the run, as the observer saw them. */
function checkOffers (c: Extract<Condition, { type: 'offers' }>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, c.target)
  const wrong: string[] = []
  let lo = Infinity
  let hi = 0
  for (const s of specs) {
    const offers = ctx.observer.device(s.id)?.offers
    let n = 0
    if (c.deployment !== undefined) n = offers?.get(c.deployment) ?? 0
    else for (const k of offers?.values() ?? []) n += k
    lo = Math.min(lo, n)
    hi = Math.max(hi, n)
    if (n < c.min || (c.max !== undefined && n > c.max)) wrong.push(`${s.id} (${plural(n, 'offer')})`)
  }
  const n = specs.length
  const what = noun(specs, n)
  const of = c.deployment === undefined ? '' : ` of ${c.deployment}`
  if (wrong.length > 0) return { verdict: 'failed', detail: `expected ${range(c.min, c.max)} offer${c.max === 1 && c.min <= 1 ? '' : 's'}${of} each; ${wrong.length} of ${n} ${what} differ${wrong.length === 1 ? 's' : ''}: ${list(wrong)}` }
  const times = (k: number): string => (k === 1 ? 'once' : k === 0 ? 'never' : `${k} times`)
  return { verdict: 'passed', detail: `${n} ${what} offered${c.deployment === undefined ? ' an update' : ` ${c.deployment}`} ${n === 0 || hi === 0 ? 'never' : lo === hi ? times(lo) : `${lo}..${hi} times`}${n > 1 && hi > 0 ? ' each' : ''}` }
}

function checkState (target: TargetSelector, expected: Record<string, unknown>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, target)
  const bad: string[] = []
  const unseen: string[] = []
  for (const s of specs) {
    const d = ctx.observer.device(s.id)
    const reported = d?.reported
    const diffs: string[] = []
    if (reported !== undefined) {
      for (const [k, v] of Object.entries(expected)) {
        if (!partialEqual(reported[k], v)) diffs.push(`${k} is ${show(reported[k])}, expected ${show(v)}`)
      }
      if (diffs.length === 0) continue
    }
    const why = reported === undefined ? (d?.reportedUnreadable === true ? 'reported state unreadable: not a JSON object' : 'no reported state') : diffs.join('; ')
    // The device's own state matches and it sent messages the observer did not see: the change was missed.
    const truth = ctx.truth?.(s.id)
    const own: Record<string, unknown> | undefined = truth === undefined ? undefined : { firmware: s.firmware, ...truth.reported() }
    const missed = missedFrom(ctx, s.id)
    if (own !== undefined && missed > 0 && Object.entries(expected).every(([k, v]) => partialEqual(own[k], v))) unseen.push(`${s.id} (${why}; ${missed} of its messages missed)`)
    else bad.push(`${s.id} (${why})`)
  }
  const n = specs.length
  const what = noun(specs, n)
  return verdictOf(bad, unseen, n, what,
    `${bad.length} of ${n} ${what} differ${bad.length === 1 ? 's' : ''}: ${list(bad)}`,
    `${n === 1 ? specs[0]?.id as string : `all ${n} ${noun(specs, n)}`} reported ${Object.entries(expected).map(([k, v]) => `${k} ${show(v)}`).join(', ')}`)
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
  const unseen: string[] = []
  let total = 0
  let lo = Infinity
  let hi = 0
  for (const s of specs) {
    const d = ctx.observer.device(s.id)
    const truth = ctx.truth?.(s.id)
    const n = d?.telemetry ?? 0
    total += n
    lo = Math.min(lo, n)
    hi = Math.max(hi, n)
    const lost: string[] = []
    if (n < c.min) {
      // Too few seen, but the device says it sent enough: the observer's loss.
      if (truth !== undefined && truth.telemetrySent >= c.min) lost.push(`${n} of ${truth.telemetrySent} seen`)
      else few.push(`${s.id} (${n})`)
    }
    if (d !== undefined && c.noSequenceGaps && (d.missing > 0 || d.malformed > 0)) {
      const ranges = d.gaps.slice(0, MAX_RANGES_LISTED).map(([a, b]) => (a === b ? String(a) : `${a}..${b}`))
      const described = d.malformed > 0 ? `${d.malformed} without seq` : `missing ${ranges.join(', ')}${d.gaps.length > MAX_RANGES_LISTED ? ', …' : ''}`
      // A gap the device's own counters do not show (it dropped nothing) is a message lost on the way to the
      // observer; one it does show, or a payload without seq, is the device's.
      if (d.malformed === 0 && truth !== undefined && truth.dropped < d.missing) lost.push(`${described}, which it sent`)
      else gaps.push(`${s.id} (${described})`)
    }
    if (lost.length > 0) unseen.push(`${s.id} (${lost.join('; ')})`)
    if (d === undefined) continue
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
  const checks = [c.noSequenceGaps ? 'no gaps' : '', c.noDuplicates ? 'no duplicates' : '', c.inOrder ? 'in order' : ''].filter((x) => x !== '')
  return verdictOf(problems, unseen, n, what, problems.join('; '),
    `${n} ${what} sent ${total} telemetry messages (${n === 0 ? 0 : lo}..${hi} each)${checks.length > 0 ? `, ${checks.join(', ')}` : ''}`)
}

function checkEvents (c: Extract<Condition, { type: 'events' }>, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, c.target)
  let total = 0
  const from: string[] = []
  const short: string[] = []
  for (const s of specs) {
    const d = ctx.observer.device(s.id)
    const n = d?.events?.get(c.name) ?? 0
    if (n > 0) { total += n; from.push(s.id) }
    const truth = ctx.truth?.(s.id)
    if (truth === undefined) continue
    let seen = 0
    for (const k of d?.events?.values() ?? []) seen += k
    if (truth.eventsSent - truth.dropped > seen) short.push(`${s.id} (${seen} of ${truth.eventsSent} events seen)`)
  }
  const ok = total >= c.min && (c.max === undefined || total <= c.max)
  const src = from.length === 0 ? `from ${specs.length} ${noun(specs, specs.length)}` : `from ${list(from)}`
  const detail = `${plural(total, `${c.name} event`)} ${src}${ok ? '' : `, expected ${range(c.min, c.max)}`}`
  if (ok) return { verdict: 'passed', detail }
  // Too few seen while some of these devices sent events the observer did not see: it cannot tell.
  if (total < c.min && short.length > 0) return { verdict: 'inconclusive', detail: `${detail}; the observer missed events: ${list(short)}` }
  return { verdict: 'failed', detail }
}

function checkPresence (want: 'online' | 'offline', target: TargetSelector, ctx: ConditionContext): ConditionOutcome {
  const specs = select(ctx, target)
  const bad: string[] = []
  const unseen: string[] = []
  for (const s of specs) {
    const status = ctx.observer.device(s.id)?.status
    if (status === want) continue
    const truth = ctx.truth?.(s.id)
    const why = `${s.id} (${status ?? 'no status seen'})`
    // Connected as wanted by its own account, while the observer missed its status (online: the device publishes it
    // on every connect; offline: the broker publishes its will, which the observer cannot count).
    if (truth !== undefined && truth.connected === (want === 'online') && (want === 'offline' || missedFrom(ctx, s.id) > 0)) unseen.push(why)
    else bad.push(why)
  }
  const n = specs.length
  const what = noun(specs, n)
  return verdictOf(bad, unseen, n, what, `${bad.length} of ${n} ${what} not ${want}: ${list(bad)}`,
    n === 1 ? `${specs[0]?.id as string} ${want}` : `all ${n} ${what} ${want}`)
}
