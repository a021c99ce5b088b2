/**
 * The rollout data model: what a deployment asks for ({@link DeploymentSpec}), what it is ({@link Deployment}) and
 * where each device stands in it ({@link DeviceRecord}). Names follow ADU where it has the concept (deployment
 * states, per-device states, cloud-initiated rollback), AWS IoT Jobs for rate limits, abort criteria, timeouts and
 * retries, and hawkBit for waves with success and error thresholds. docs/rollouts.md maps each one.
 */
import { FleetError, type Issue } from '../../core/errors.ts'
import { DURATION_HINT, parseDuration } from '../../core/duration.ts'
import { parseCondition } from './condition.ts'
import { parseUpdateKey } from './manifest.ts'

/** ADU's deployment states. */
export const DEPLOYMENT_STATES = ['Active', 'ActiveWithSubgroupFailures', 'Failed', 'Inactive', 'Canceled'] as const
export type DeploymentState = typeof DEPLOYMENT_STATES[number]

/**
 * What the deployment is doing, beyond ADU's state: waiting for its start time, sending offers, paused by an
 * operator, halted by a wave's error threshold or a failed success threshold, aborted by an abort criterion, all
 * waves done, rolled back, superseded by a newer deployment, or cancelled.
 */
export type DeploymentPhase = 'scheduled' | 'running' | 'paused' | 'halted' | 'aborted' | 'completed' | 'rolledBack' | 'superseded' | 'canceled'

/** Per device: ADU's Succeeded/InProgress/Failed/Canceled, AWS's TimedOut, and Pending (chosen, not yet offered). */
export const DEVICE_STATES = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimedOut', 'Canceled'] as const
export type DeviceDeploymentState = typeof DEVICE_STATES[number]

/** AWS IoT Jobs' failure types for abort criteria. */
export const FAILURE_TYPES = ['FAILED', 'REJECTED', 'TIMED_OUT', 'ALL'] as const
export type FailureType = typeof FAILURE_TYPES[number]

export interface WaveSpec {
  /** Percentage of the matching devices not yet in the deployment when the wave opens (hawkBit's group size). */
  readonly percent: number
  /** Time to wait after the success threshold is met before the next wave opens. */
  readonly soakMs: number
  /** Percentage of the wave that must succeed to open the next wave. */
  readonly successThreshold: number
  /** Percentage of the wave that, once failed, halts the deployment (exceeding it halts). */
  readonly errorThreshold: number
}

export type RateLimit =
  | { readonly kind: 'constant'; readonly perMinute: number }
  | {
    readonly kind: 'exponential'
    /** Offers per minute to start with (AWS `baseRatePerMinute`). */
    readonly baseRate: number
    /** Multiplier at each step up (AWS `incrementFactor`, 1.1–5). */
    readonly factor: number
    /** Step up after this many more devices were notified (AWS `numberOfNotifiedThings`)… */
    readonly notified?: number
    /** …or succeeded (AWS `numberOfSucceededThings`). */
    readonly succeeded?: number
    /** Never more than this per minute (AWS `maximumPerMinute`). */
    readonly maxPerMinute: number
  }

export interface AbortCriterion {
  readonly failureType: FailureType
  /** Abort when this percentage of the notified devices failed this way… */
  readonly thresholdPercent: number
  /** …once at least this many devices were notified. */
  readonly minExecuted: number
}

/** ADU's cloud-initiated rollback policy. */
export interface RollbackPolicy {
  /** `provider/name/version` of the update to deploy to the whole group. */
  readonly update: string
  /** Both thresholds must be met: this percentage of the deployment's devices failed… */
  readonly failedPercent: number
  /** …and at least this many. */
  readonly failedCount: number
}

export interface DeploymentSpec {
  readonly id: string
  /** ADU group: the `ADUGroup` tag of the devices, `$default` for untagged ones. */
  readonly groupId: string
  /** `provider/name/version`. */
  readonly update: string
  /** Time (clock ms) to start; default at once. */
  readonly startAt?: number
  readonly targetCondition?: string
  /** Default: one wave of 100%. */
  readonly waves: readonly WaveSpec[]
  readonly rateLimit?: RateLimit
  readonly abort: readonly AbortCriterion[]
  /** A device InProgress longer than this is TimedOut (AWS `inProgressTimeoutInMinutes`). */
  readonly inProgressTimeoutMs?: number
  /** Automatic retries of a failed or timed-out device, 0–10 (AWS retry config). */
  readonly retries: number
  readonly rollback?: RollbackPolicy
  /** Set on a deployment the service made as another one's rollback. */
  readonly rollbackOf?: string
}

export interface WaveStatus {
  readonly index: number
  readonly percent: number
  /** Devices chosen when it opened (late joiners added later count too). */
  size: number
  openedAt?: number
  /** When the success threshold was met: the soak runs from here. */
  thresholdMetAt?: number
  /** When the next wave opened (or the deployment completed). */
  passedAt?: number
}

export interface Deployment {
  readonly spec: DeploymentSpec
  readonly createdAt: number
  state: DeploymentState
  phase: DeploymentPhase
  /** Index of the newest opened wave; −1 before the start. */
  currentWave: number
  waves: WaveStatus[]
  /** Why the deployment halted or aborted. */
  halt?: { wave: number; reason: string; at: number; failureRate?: number }
  /** The rollback deployment this one triggered. */
  rolledBackBy?: string
  supersededBy?: string
  canceledAt?: number
  completedAt?: number
  /**
   * Rate limiting: the current per-minute rate, the counts since its last step up, and the one-minute window: a
   * step up takes effect in the next window (`windowRate` is the rate the current window started with), else each
   * step would at once allow more offers that step it up again within the same minute.
   */
  rate: { perMinute: number; notifiedSinceStep: number; succeededSinceStep: number; windowStart: number; sentInWindow: number; windowRate: number }
  /** The manual retries asked for so far (each gives a new retryTimestamp). */
  manualRetries: number
  /** Waves up to this index no longer halt: an operator resumed or retried past their gates. */
  gatesOverriddenUpTo?: number
}

export interface DeviceRecord {
  readonly deploymentId: string
  readonly deviceId: string
  state: DeviceDeploymentState
  wave: number
  /** Offers sent: 1 for the first, +1 per retry. */
  attempts: number
  retryTimestamp?: string
  offeredAt?: number
  updatedAt: number
  /** The device's class (its compatibility properties), for ADU's subgroup status. */
  deviceClass: string
  resultCode?: number
  extendedResultCode?: number
  resultDetails?: string
  failureType?: 'FAILED' | 'REJECTED' | 'TIMED_OUT'
  /** Joined the group after the deployment's last wave had opened. */
  lateJoiner?: boolean
}

export const DEFAULT_GROUP = '$default'
export const GROUP_TAG = 'ADUGroup'
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** A deployment spec as a user writes it (CLI flags, scenario steps, JSON over MQTT): durations as text or ms. */
export interface DeploymentInput {
  id?: string
  group?: string
  update: string
  startAt?: number | string
  targetCondition?: string
  waves?: { percent: number; soak?: string | number; successThreshold?: number; errorThreshold?: number }[]
  rateLimit?: { perMinute: number } | { baseRate: number; factor: number; notified?: number; succeeded?: number; maxPerMinute?: number }
  abort?: { failureType: string; thresholdPercent: number; minExecuted: number }[]
  inProgressTimeout?: string | number
  retries?: number
  rollback?: { update: string; failedPercent?: number; failedCount?: number }
}

function duration (v: string | number | undefined, path: string, issues: Issue[]): number | undefined {
  if (v === undefined) return undefined
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) { issues.push({ path, message: `must be a duration of 0 or more, got ${v}` }); return undefined }
    return v
  }
  const ms = parseDuration(v)
  if (ms === undefined) issues.push({ path, message: `must be ${DURATION_HINT}, got ${JSON.stringify(v)}` })
  return ms
}

function percent (v: unknown, path: string, issues: Issue[], min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > 100) { issues.push({ path, message: `must be a percentage ${min}–100, got ${JSON.stringify(v)}` }); return 0 }
  return v
}

function positiveInt (v: unknown, path: string, issues: Issue[], max: number, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) { issues.push({ path, message: `must be a whole number ${min}–${max}, got ${JSON.stringify(v)}` }); return min }
  return v
}

/**
 * Check a user's deployment request and fill in the defaults; every problem is reported together as
 * FLEET_ERR_ROLLOUT_INVALID (exit 2). `now` makes an ISO start time or a relative `+5m` into clock ms.
 */
export function normalizeDeployment (input: DeploymentInput, now: number, newId: () => string): DeploymentSpec {
  const issues: Issue[] = []
  if (typeof input !== 'object' || input === null) throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', 'a deployment must be a JSON object')
  const id = input.id ?? newId()
  if (typeof id !== 'string' || !ID_RE.test(id)) issues.push({ path: 'id', message: `must be 1–64 letters, digits, . _ - starting with a letter or digit, got ${JSON.stringify(id)}` })
  const groupId = input.group ?? DEFAULT_GROUP
  if (typeof groupId !== 'string' || groupId === '' || groupId.length > 128 || /[/+#]/.test(groupId)) issues.push({ path: 'group', message: `must be an ADU group name without / + #, got ${JSON.stringify(groupId)}` })
  if (typeof input.update !== 'string' || parseUpdateKey(input.update) === undefined) issues.push({ path: 'update', message: `must be provider/name/version, got ${JSON.stringify(input.update)}` })
  let startAt: number | undefined
  if (input.startAt !== undefined) {
    if (typeof input.startAt === 'number') startAt = input.startAt
    else if (input.startAt.startsWith('+')) startAt = now + (duration(input.startAt.slice(1), 'startAt', issues) ?? 0)
    else if (!Number.isNaN(Date.parse(input.startAt))) startAt = Date.parse(input.startAt)
    else issues.push({ path: 'startAt', message: `must be an ISO time or +DURATION (such as +5m), got ${JSON.stringify(input.startAt)}` })
  }
  if (input.targetCondition !== undefined) {
    try { parseCondition(input.targetCondition) } catch (err) { issues.push({ path: 'targetCondition', message: (err as Error).message }) }
  }
  const waves: WaveSpec[] = (input.waves ?? [{ percent: 100 }]).map((w, i) => ({
    percent: percent(w.percent, `waves[${i}].percent`, issues, 0.001),
    soakMs: duration(w.soak, `waves[${i}].soak`, issues) ?? 0,
    successThreshold: percent(w.successThreshold ?? 100, `waves[${i}].successThreshold`, issues),
    errorThreshold: percent(w.errorThreshold ?? 100, `waves[${i}].errorThreshold`, issues)
  }))
  if (waves.length === 0 || waves.length > 20) issues.push({ path: 'waves', message: `must have 1–20 waves, has ${waves.length}` })
  let rateLimit: RateLimit | undefined
  const r = input.rateLimit
  if (r !== undefined) {
    if ('perMinute' in r) rateLimit = { kind: 'constant', perMinute: positiveInt(r.perMinute, 'rateLimit.perMinute', issues, 100_000) }
    else {
      const factor = r.factor
      if (typeof factor !== 'number' || !(factor >= 1.1 && factor <= 5)) issues.push({ path: 'rateLimit.factor', message: `must be 1.1–5, got ${JSON.stringify(factor)}` })
      if (r.notified === undefined && r.succeeded === undefined) issues.push({ path: 'rateLimit', message: 'an exponential rate needs notified or succeeded: the counts that step it up' })
      rateLimit = {
        kind: 'exponential',
        baseRate: positiveInt(r.baseRate, 'rateLimit.baseRate', issues, 100_000),
        factor,
        ...(r.notified === undefined ? {} : { notified: positiveInt(r.notified, 'rateLimit.notified', issues, 1_000_000) }),
        ...(r.succeeded === undefined ? {} : { succeeded: positiveInt(r.succeeded, 'rateLimit.succeeded', issues, 1_000_000) }),
        maxPerMinute: positiveInt(r.maxPerMinute ?? 100_000, 'rateLimit.maxPerMinute', issues, 100_000)
      }
    }
  }
  const abort: AbortCriterion[] = (input.abort ?? []).map((a, i) => {
    const ft = typeof a.failureType === 'string' ? a.failureType.toUpperCase() : ''
    if (!(FAILURE_TYPES as readonly string[]).includes(ft)) issues.push({ path: `abort[${i}].failureType`, message: `must be one of ${FAILURE_TYPES.join(', ')}, got ${JSON.stringify(a.failureType)}` })
    return { failureType: ft as FailureType, thresholdPercent: percent(a.thresholdPercent, `abort[${i}].thresholdPercent`, issues), minExecuted: positiveInt(a.minExecuted, `abort[${i}].minExecuted`, issues, 1_000_000) }
  })
  const inProgressTimeoutMs = duration(input.inProgressTimeout, 'inProgressTimeout', issues)
  const retries = input.retries === undefined ? 0 : positiveInt(input.retries, 'retries', issues, 10, 0)
  let rollback: RollbackPolicy | undefined
  if (input.rollback !== undefined) {
    const rb = input.rollback
    if (typeof rb.update !== 'string' || parseUpdateKey(rb.update) === undefined) issues.push({ path: 'rollback.update', message: `must be provider/name/version, got ${JSON.stringify(rb.update)}` })
    rollback = {
      update: rb.update,
      failedPercent: percent(rb.failedPercent ?? 0, 'rollback.failedPercent', issues),
      failedCount: positiveInt(rb.failedCount ?? 1, 'rollback.failedCount', issues, 1_000_000)
    }
  }
  if (issues.length > 0) throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `deployment: ${issues.length} problem${issues.length === 1 ? '' : 's'}`, { issues })
  return {
    id, groupId, update: input.update,
    ...(startAt === undefined ? {} : { startAt }),
    ...(input.targetCondition === undefined ? {} : { targetCondition: input.targetCondition }),
    waves, ...(rateLimit === undefined ? {} : { rateLimit }), abort,
    ...(inProgressTimeoutMs === undefined ? {} : { inProgressTimeoutMs }),
    retries, ...(rollback === undefined ? {} : { rollback })
  }
}

export function isTerminal (s: DeviceDeploymentState): boolean {
  return s === 'Succeeded' || s === 'Failed' || s === 'TimedOut' || s === 'Canceled'
}
