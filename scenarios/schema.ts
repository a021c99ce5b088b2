/**
 * The scenario format (docs/scenarios.md): the zod schema that checks a parsed YAML file, and the TypeScript types
 * of a checked {@link Scenario}.
 *
 * Every object is strict: an unknown key is an error, reported with the keys that are allowed there so the loader
 * can say "did you mean …". Timeline steps are checked by kind (command, desired, note, check), chosen from the
 * keys a step has, so a mistake inside a step is reported against that kind's fields instead of zod's "no union
 * member matched".
 */
import { z } from 'zod'
import { REPLY_ERROR_CODES, type ReplyErrorCode } from '../core/errors.ts'
import { DEFAULT_PREFIX, isValidLevel } from '../core/topics.ts'
import { DEVICE_KINDS, type DeviceKind } from '../devices/device.ts'
import type { FleetDescription } from '../devices/fleet.ts'
import { DURATION_HINT, parseDuration } from '../core/duration.ts'
import { didYouMean, suggest } from '../core/suggest.ts'
import { VOICE_ERRORS, type VoiceErrorCode } from '../bridge/voice/errors.ts'
import { INTENTS, LANGS, type IntentName, type Lang } from '../bridge/voice/intents.ts'
import { DEPLOYMENT_STATES, DEVICE_STATES, FAILURE_TYPES, type DeploymentInput, type DeploymentPhase, type DeploymentState, type DeviceDeploymentState } from '../bridge/rollout/model.ts'
import { UPDATE_FAULTS, type UpdateFault } from '../devices/update-agent.ts'

// ---- the checked scenario ------------------------------------------------------------------------------------

/** Which devices a step or condition means. Every given field must match (AND); `all: true` alone means all. */
export interface TargetSelector {
  /** Device ids or globs (`home-00*-speaker`). */
  device?: readonly string[]
  /** Device names or globs (`kitchen speaker`, `* speaker`). */
  name?: readonly string[]
  kind?: DeviceKind
  /** Room name, compared case- and accent-insensitively (`Living Room` = `living room`). */
  room?: string
  /** Home id: `demo`, `home-0003`, or a group's id prefix. */
  home?: string
  all?: true
}

/** What a command's reply must be: `ok`, `any` (any reply, only a time-out fails), or an error code. */
export type ReplyExpectation = 'ok' | 'any' | ReplyErrorCode

interface StepBase {
  /** Position in the file's `timeline` list, from 0. */
  index: number
  /** 1-based line of the step in the scenario file (undefined for scenarios built in code). */
  line: number | undefined
  /** When the step starts, in milliseconds after the whole fleet is online. */
  atMs: number
}

export interface CommandStep extends StepBase {
  kind: 'command'
  command: string
  target: TargetSelector
  /** JSON arguments, or a raw payload string (to test how devices answer a bad payload). */
  args: Record<string, unknown> | string
  expect: ReplyExpectation
  /** How long to wait for every reply. */
  timeoutMs: number
}

export interface DesiredStep extends StepBase {
  kind: 'desired'
  target: TargetSelector
  desired: Record<string, unknown>
}

export interface NoteStep extends StepBase {
  kind: 'note'
  note: string
}

export interface CheckStep extends StepBase {
  kind: 'check'
  conditions: Condition[]
  /** Keep checking until every condition holds or this time has passed (0: check once). */
  withinMs: number
}

/** A speaker hears an utterance; the voice bridge carries it out (scenarios/steps/hear.ts runs it). */
export interface HearStep extends StepBase {
  kind: 'hear'
  utterance: string
  /** The id of the device that heard it (its room is the context; it speaks the answer). */
  from: string | undefined
  lang: Lang | undefined
  expect: HearExpectation
  /** How long the bridge waits for each device's reply. */
  timeoutMs: number
}

/** What the answer must be; `outcome` defaults to `done`. */
export interface HearExpectation {
  intent?: IntentName
  lang?: Lang
  outcome?: VoiceOutcomeName
  /** A regular expression (case-insensitive) the spoken answer must match. */
  text?: string
  /** Per device id: `ok`, or the error of the voice vocabulary it must end in. */
  devices?: Record<string, 'ok' | VoiceErrorCode>
}

/** What the rollout service must answer to an import, deploy or rollout step: `ok`, or that error code. */
export type RolloutExpectation = 'ok' | typeof ROLLOUT_ERROR_CODES[number]
export const ROLLOUT_ERROR_CODES = ['FLEET_ERR_MANIFEST_INVALID', 'FLEET_ERR_ROLLOUT_INVALID', 'FLEET_ERR_ROLLOUT_NOT_FOUND', 'FLEET_ERR_ROLLOUT_CONFLICT'] as const

/** An update manifest to import, read (or generated) when the file is loaded. */
export interface UpdateSource {
  /** `provider/name/version`. */
  update: string
  /** The manifest's file (resolved), or `generated/<update>` for a generated one. */
  file: string
  /** The manifest's JSON text. */
  text: string
  /** Generated from a name and a size (no file). */
  generated: boolean
  /** The scenario file's line that declares it. */
  line: number | undefined
}

/** Import update manifests into the run's rollout service (scenarios/rollout.ts runs it). */
export interface ImportStep extends StepBase {
  kind: 'import'
  updates: UpdateSource[]
  expect: RolloutExpectation
}

/** Create a deployment: the fields of a deployment request (docs/rollouts.md), durations in milliseconds. */
export interface DeployStep extends StepBase {
  kind: 'deploy'
  deployment: DeploymentInput & { id: string }
  expect: RolloutExpectation
}

export const ROLLOUT_ACTIONS = ['pause', 'resume', 'cancel', 'retry', 'restart'] as const
export type RolloutAction = typeof ROLLOUT_ACTIONS[number]

/** An operator's verb on a deployment, or a restart of the rollout service on the same data directory. */
export interface RolloutStep extends StepBase {
  kind: 'rollout'
  action: RolloutAction
  /** The deployment (every action but restart). */
  deployment: string | undefined
  /** restart: how long the service stays down between its stop and its start. */
  downMs: number
  expect: RolloutExpectation
}

export type Step = CommandStep | DesiredStep | NoteStep | CheckStep | HearStep | ImportStep | DeployStep | RolloutStep

interface ConditionBase {
  /** Dotted path in the file, e.g. `timeline[4].expect.state` or `expect.telemetry[1]`. */
  path: string
  line: number | undefined
}

export interface StateCondition extends ConditionBase {
  type: 'state'
  target: TargetSelector
  /** Values the reported state must have (a partial match: other keys are ignored; nested maps likewise). */
  reported: Record<string, unknown>
}

export interface TelemetryCondition extends ConditionBase {
  type: 'telemetry'
  target: TargetSelector
  /** Every selected device sent at least this many telemetry messages. */
  min: number
  noSequenceGaps: boolean
  noDuplicates: boolean
  inOrder: boolean
}

export interface EventsCondition extends ConditionBase {
  type: 'events'
  target: TargetSelector
  name: string
  /** Bounds on the number of such events from all selected devices together. */
  min: number
  max: number | undefined
}

export interface MessagesCondition extends ConditionBase {
  type: 'messages'
  /** An MQTT topic filter (`home/+/events/#`). */
  topic: string
  min: number
  max: number | undefined
}

export interface PresenceCondition extends ConditionBase {
  type: 'online' | 'offline'
  target: TargetSelector
}

/** A number compared: `= 4`, `>= 5` (written `≥ 5%`, `>= 5`, `5`, …). */
export interface Comparison { op: '=' | '>=' | '<=' | '>' | '<'; value: number }

/** The rollout service's status of a deployment (its retained status topic) must be as given; every field is optional. */
export interface DeploymentCondition extends ConditionBase {
  type: 'deployment'
  id: string
  state?: DeploymentState
  phase?: DeploymentPhase
  /** The newest opened wave, from 1. */
  wave?: number
  /** Failed and timed-out devices as a percentage of the devices notified. */
  failureRate?: Comparison
  /** The deployment halted, aborted or rolled back: in this wave (from 1), with this failure rate, for a reason matching this pattern. */
  halt?: { wave?: number; failureRate?: Comparison; reason?: string }
  /** Devices per state. */
  counts?: Partial<Record<DeviceDeploymentState, Comparison>>
  /** The service rolled it back (ADU's cloud-initiated rollback), or did not. */
  rolledBack?: boolean
}

export const AGENT_STATES = ['idle', 'inProgress', 'failed'] as const
export type AgentStateName = typeof AGENT_STATES[number]

/** Every selected device reports this firmware (and, if given, this update agent state). */
export interface FirmwareCondition extends ConditionBase {
  type: 'firmware'
  target: TargetSelector
  version: string
  agentState: AgentStateName | undefined
}

/** Each selected device was offered an update (a desired-twin workflow) between min and max times during the run. */
export interface OffersCondition extends ConditionBase {
  type: 'offers'
  target: TargetSelector
  /** Only offers of this deployment (its workflow id); default any. */
  deployment: string | undefined
  min: number
  max: number | undefined
}

export type Condition = StateCondition | TelemetryCondition | EventsCondition | MessagesCondition | PresenceCondition | DeploymentCondition | FirmwareCondition | OffersCondition
export const CONDITION_TYPES = ['state', 'telemetry', 'events', 'messages', 'online', 'offline', 'deployment', 'firmware', 'offers'] as const
/** Conditions that read the rollout service: a scenario with one of them runs the service. */
export const ROLLOUT_CONDITION_TYPES: ReadonlySet<Condition['type']> = new Set(['deployment', 'offers'])

export interface Scenario {
  name: string
  description: string | undefined
  /** The file it was loaded from (undefined for text loaded without one). */
  file: string | undefined
  seed: number
  /** `embedded`, or the URL of an external broker. */
  broker: string
  prefix: string
  /** Total run time after the fleet is online. */
  durationMs: number
  /** Device clock speed factor (telemetry and simulation run this many times faster than wall time). */
  speed: number
  /** What the device clock reads when the fleet starts (ms since the epoch), or `now` for the wall time. */
  startTime: number | 'now'
  fleet: FleetDescription
  /** Device connections started per second (undefined: the fleet's default). */
  connectRate: number | undefined
  /** Steps in file order. */
  timeline: Step[]
  /** Conditions checked at the end of the run. */
  expect: Condition[]
  /** The `rollout:` section: updates imported before the timeline, the update agent's settings and faults. */
  rollout: RolloutSettings | undefined
  /**
   * The run hosts the rollout service and gives every device the update agent: the file has a `rollout:` section,
   * an import, deploy or rollout step, or a deployment or offers condition.
   */
  usesRollouts: boolean
}

/** The update agent of every device (devices/update-agent.ts), as a scenario sets it. */
export interface RolloutSettings {
  updates: UpdateSource[]
  agent: { bandwidth?: number; installMs?: number; rebootMs?: number; downloadTimeoutMs?: number; progressSteps?: number }
  faults: Array<{ fault: UpdateFault; target: TargetSelector; probability: number; line: number | undefined }>
}

export const DEFAULTS = Object.freeze({
  seed: 1,
  broker: 'embedded',
  prefix: DEFAULT_PREFIX,
  speed: 1,
  /**
   * Device clock at the start of a run: a fixed instant, so time-of-day behaviour (a band's sleep, a camera's
   * daylight motion rate, alarms) is the same in every run of the same scenario and seed, wherever and whenever.
   */
  startTime: Date.UTC(2026, 0, 1, 8, 0, 0),
  /** Time after the last step (and its `within`) before the run ends, when `duration` is not given. */
  tailMs: 2000,
  commandTimeoutMs: 5000
})

// ---- schema building blocks -----------------------------------------------------------------------------------

/** Params on the custom issue an unknown key produces; the loader turns them into "did you mean". */
export interface UnknownKeyParams { unknownKey: true; allowed: readonly string[] }

function strict<S extends z.ZodRawShape> (shape: S): z.ZodObject<S, z.core.$catchall<z.ZodCustom<unknown>>> {
  const params: UnknownKeyParams = { unknownKey: true, allowed: Object.keys(shape) }
  // A catch-all that always fails gives one issue per unknown key, with the key in its path (zod's own strict mode
  // reports all unknown keys in one issue on the parent).
  return z.object(shape).catchall(z.custom<unknown>(() => false, { params, message: 'unknown key' }))
}

function isPlainObject (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** A value or a list of such values; avoids zod unions, whose errors ("invalid input") name no field. */
function oneOrMany<T extends z.ZodType> (item: T): z.ZodType<Array<z.output<T>>, unknown> {
  const list = z.array(item).min(1)
  return z.unknown().transform((raw, ctx) => {
    const r = Array.isArray(raw) ? list.safeParse(raw, { error: issueMessage }) : item.safeParse(raw, { error: issueMessage })
    if (!r.success) {
      forward(ctx, r.error.issues)
      return z.NEVER
    }
    return (Array.isArray(r.data) ? r.data : [r.data])
  })
}

function duration (bounds: { min?: number; max?: number } = {}): z.ZodType<number, unknown> {
  return z.unknown().transform((raw, ctx) => {
    const ms = parseDuration(raw)
    if (ms === undefined) {
      const message = raw === undefined
        ? `is required: ${DURATION_HINT}`
        : typeof raw === 'number'
          ? `needs a unit: ${raw}s or ${raw}ms? (${DURATION_HINT})`
          : `must be ${DURATION_HINT}, got ${describeValue(raw)}`
      ctx.issues.push({ code: 'custom', message, input: raw })
      return z.NEVER
    }
    if (bounds.min !== undefined && ms < bounds.min) {
      ctx.issues.push({ code: 'custom', message: `must be at least ${bounds.min}ms, got ${describeValue(raw)}`, input: raw })
      return z.NEVER
    }
    if (bounds.max !== undefined && ms > bounds.max) {
      ctx.issues.push({ code: 'custom', message: `must be at most ${bounds.max / 3_600_000}h, got ${describeValue(raw)}`, input: raw })
      return z.NEVER
    }
    return ms
  })
}

const nonEmpty = z.string().min(1)
const stringOrList = oneOrMany(nonEmpty)
const count = z.number().int().min(0)
const topicLevel = nonEmpty.refine((s) => isValidLevel(s), { message: 'must be one topic level: not empty, no / + # and not starting with $' })
const slugRe = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const MAX_DURATION_MS = 24 * 3_600_000

/** `device`, `name`, `kind`, `room`, `home`, `all`: one or more, AND-ed. */
const selectorSchema = strict({
  device: stringOrList.optional(),
  name: stringOrList.optional(),
  kind: z.enum(DEVICE_KINDS).optional(),
  room: nonEmpty.optional(),
  home: nonEmpty.optional(),
  all: z.literal(true).optional()
}).superRefine((sel, ctx) => {
  if (sel.device === undefined && sel.name === undefined && sel.kind === undefined && sel.room === undefined && sel.home === undefined && sel.all === undefined) {
    ctx.addIssue({ code: 'custom', message: 'choose devices with device, name, kind, room or home (or all: true for every device)' })
  }
})

function isMqttFilter (s: string): boolean {
  if (s === '') return false
  const levels = s.split('/')
  return levels.every((l, i) => (l === '#' ? i === levels.length - 1 : l === '+' || (!l.includes('+') && !l.includes('#'))))
}

// ---- conditions -----------------------------------------------------------------------------------------------

const bounds = { min: count.optional(), max: count.optional() }
function minNotAboveMax (v: { min?: number | undefined; max?: number | undefined }, ctx: z.RefinementCtx): void {
  if (v.min !== undefined && v.max !== undefined && v.min > v.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${v.min} is above max ${v.max}` })
}

const stateCondition = strict({
  target: selectorSchema,
  reported: z.record(z.string(), z.unknown()).refine((r) => Object.keys(r).length > 0, { message: 'name at least one reported value, e.g. { volume: 30 }' })
})
const telemetryCondition = strict({
  target: selectorSchema.optional(),
  min: count.optional(),
  noSequenceGaps: z.boolean().optional(),
  noDuplicates: z.boolean().optional(),
  inOrder: z.boolean().optional()
})
const eventsCondition = strict({ target: selectorSchema.optional(), name: topicLevel, ...bounds }).superRefine(minNotAboveMax)
const messagesCondition = strict({
  topic: nonEmpty.refine(isMqttFilter, { message: 'must be an MQTT topic filter: + for one whole level, # only as the last level' }),
  ...bounds
}).superRefine(minNotAboveMax)
const presenceCondition = strict({ target: selectorSchema.optional() })

const COMPARISON_RE = /^\s*(>=|<=|≥|≤|==|=|>|<)?\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/
/** `5`, `"≥ 5%"`, `">= 5"`, `"< 10"`, or `{ min: 5, max: 10 }` (both bounds inclusive; a map gives two comparisons). */
const comparison = z.unknown().transform((raw, ctx): Comparison => {
  if (typeof raw === 'number' && Number.isFinite(raw)) return { op: '=', value: raw }
  const m = typeof raw === 'string' ? COMPARISON_RE.exec(raw) : null
  if (m !== null) {
    const sign = m[1] ?? '='
    const op = sign === '≥' ? '>=' : sign === '≤' ? '<=' : sign === '==' ? '=' : sign as Comparison['op']
    return { op, value: Number(m[2]) }
  }
  ctx.issues.push({ code: 'custom', message: `must be a number or a comparison such as "≥ 5%", ">= 5", "< 10" or 4 (exactly), got ${describeValue(raw)}`, input: raw })
  return z.NEVER
})

const DEPLOYMENT_PHASES: readonly DeploymentPhase[] = ['scheduled', 'running', 'paused', 'halted', 'aborted', 'completed', 'rolledBack', 'superseded', 'canceled']
const DEPLOYMENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const deploymentId = z.string().regex(DEPLOYMENT_ID_RE, { message: 'must be 1–64 letters, digits, . _ - starting with a letter or digit' })
const countsSchema = strict(Object.fromEntries(DEVICE_STATES.map((st) => [st, comparison.optional()])) as Record<DeviceDeploymentState, z.ZodOptional<typeof comparison>>)
const deploymentCondition = strict({
  id: deploymentId,
  state: z.enum(DEPLOYMENT_STATES).optional(),
  phase: z.enum(DEPLOYMENT_PHASES as [DeploymentPhase, ...DeploymentPhase[]]).optional(),
  wave: z.number().int().min(1).optional(),
  failureRate: comparison.optional(),
  halt: strict({
    wave: z.number().int().min(1).optional(),
    failureRate: comparison.optional(),
    reason: nonEmpty.refine((t) => isRegExp(t), { message: 'must be a valid regular expression' }).optional()
  }).optional(),
  counts: countsSchema.optional(),
  rolledBack: z.boolean().optional()
})
const firmwareCondition = strict({ target: selectorSchema.optional(), version: nonEmpty, agentState: z.enum(AGENT_STATES).optional() })
const offersCondition = strict({ target: selectorSchema.optional(), deployment: deploymentId.optional(), ...bounds }).superRefine(minNotAboveMax)

/** A map of conditions; each kind may be one condition or a list of them. */
const conditionsSchema = strict({
  state: oneOrMany(stateCondition).optional(),
  telemetry: oneOrMany(telemetryCondition).optional(),
  events: oneOrMany(eventsCondition).optional(),
  messages: oneOrMany(messagesCondition).optional(),
  online: oneOrMany(presenceCondition).optional(),
  offline: oneOrMany(presenceCondition).optional(),
  deployment: oneOrMany(deploymentCondition).optional(),
  firmware: oneOrMany(firmwareCondition).optional(),
  offers: oneOrMany(offersCondition).optional()
}).superRefine((c, ctx) => {
  if (CONDITION_TYPES.every((t) => c[t] === undefined)) {
    ctx.addIssue({ code: 'custom', message: `name at least one condition: ${CONDITION_TYPES.join(', ')}` })
  }
})
export type ParsedConditions = z.output<typeof conditionsSchema>

// ---- steps ----------------------------------------------------------------------------------------------------

const REPLY_EXPECTATIONS = ['ok', 'any', ...REPLY_ERROR_CODES] as const
const at = duration({ max: MAX_DURATION_MS })

/** Pass a sub-schema's issues up, relative to the current field (zod prefixes the path on the way up). */
function forward (ctx: z.RefinementCtx, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) ctx.issues.push({ ...issue, input: undefined })
}

const replyExpectation = z.unknown().transform((raw, ctx): ReplyExpectation => {
  if (typeof raw === 'string' && (REPLY_EXPECTATIONS as readonly string[]).includes(raw)) return raw as ReplyExpectation
  const message = typeof raw === 'string'
    ? `must be ok, any, or a reply error code (${REPLY_ERROR_CODES.join(', ')}); got ${describeValue(raw)}${didYouMean(raw, REPLY_EXPECTATIONS)}`
    : 'with a command, expect is ok, any or an error code such as VALUE_OUT_OF_RANGE; to check conditions, add a step at the same time with its own expect'
  ctx.issues.push({ code: 'custom', message, input: raw })
  return z.NEVER
})

const conditionsField = z.unknown().transform((raw, ctx): ParsedConditions => {
  if (typeof raw === 'string') {
    ctx.issues.push({ code: 'custom', message: `expect: ${raw} checks a command's reply and needs a command in the same step; to check conditions give a map such as { state: …, telemetry: … }`, input: raw })
    return z.NEVER
  }
  const r = conditionsSchema.safeParse(raw, { error: issueMessage })
  if (r.success) return r.data
  forward(ctx, r.error.issues)
  return z.NEVER
})

const commandStep = strict({
  at,
  command: topicLevel,
  target: selectorSchema,
  args: z.record(z.string(), z.unknown()).optional(),
  payload: z.string().optional(),
  expect: replyExpectation.optional(),
  timeout: duration({ min: 10, max: MAX_DURATION_MS }).optional()
})

const desiredStep = strict({
  at,
  target: selectorSchema,
  desired: z.record(z.string(), z.unknown()).superRefine((d, ctx) => {
    const keys = Object.keys(d)
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one property, e.g. { volume: 40 }' })
    for (const k of keys) {
      if (k.startsWith('$')) ctx.addIssue({ code: 'custom', path: [k], message: 'keys starting with $ are set by the runner ($version)' })
    }
  })
})

const noteStep = strict({ at, note: nonEmpty })

function isRegExp (text: string): boolean {
  try { RegExp(text, 'i'); return true } catch { return false }
}

const VOICE_OUTCOMES = ['done', 'partial', 'failed', 'reprompt', 'notUnderstood'] as const
export type VoiceOutcomeName = typeof VOICE_OUTCOMES[number]
const hearStep = strict({
  at,
  hear: nonEmpty,
  from: topicLevel.optional(),
  lang: z.enum(LANGS).optional(),
  expect: strict({
    intent: z.enum(INTENTS).optional(),
    lang: z.enum(LANGS).optional(),
    outcome: z.enum(VOICE_OUTCOMES).optional(),
    text: nonEmpty.refine(isRegExp, { message: 'must be a valid regular expression' }).optional(),
    devices: z.record(z.string(), z.enum(['ok', ...Object.keys(VOICE_ERRORS)] as [string, ...string[]])).optional()
  }).optional(),
  timeout: duration({ min: 10, max: MAX_DURATION_MS }).optional()
})

const checkStep = strict({
  at,
  expect: conditionsField,
  within: duration({ max: MAX_DURATION_MS }).optional()
})

// ---- rollout steps (scenarios/rollout.ts runs them) ----

const rolloutExpectation = z.unknown().transform((raw, ctx): RolloutExpectation => {
  const allowed = ['ok', ...ROLLOUT_ERROR_CODES] as const
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as RolloutExpectation
  ctx.issues.push({ code: 'custom', message: `must be ok or the error the rollout service answers (${ROLLOUT_ERROR_CODES.join(', ')}); got ${describeValue(raw)}${typeof raw === 'string' ? didYouMean(raw, allowed) : ''}`, input: raw })
  return z.NEVER
})

const UPDATE_KEY_RE = /^[a-zA-Z0-9.-]{1,64}\/[a-zA-Z0-9.-]{1,64}\/\d+(?:\.\d+)+$/
const updateKeySchema = z.string().regex(UPDATE_KEY_RE, { message: 'must be provider/name/version, such as Xiaomi/speaker-l09a/2.1.0' })

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 * 1024, GB: 1e9, GiB: 1024 ** 3 }
/** Bytes: a whole number, or a size with a unit (`512B`, `64KiB`, `1.5MB`, `2MiB`). */
export function parseByteSize (raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isInteger(raw) && raw >= 1 ? raw : undefined
  const m = typeof raw === 'string' ? SIZE_RE.exec(raw.trim()) : null
  if (m === null) return undefined
  const n = Math.round(Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] as number))
  return n >= 1 ? n : undefined
}
const byteSize = z.unknown().transform((raw, ctx): number => {
  const n = parseByteSize(raw)
  if (n !== undefined) return n
  ctx.issues.push({ code: 'custom', message: `must be a size in bytes: a whole number or 512B, 64KiB, 1.5MB, 2MiB; got ${describeValue(raw)}`, input: raw })
  return z.NEVER
})

export type ParsedUpdateSource = { file: string } | { generate: string; size: number; model?: string | undefined }
const generatedUpdate = strict({ generate: updateKeySchema, size: byteSize, model: nonEmpty.optional() })
const manifestFile = strict({ file: nonEmpty })
/** A manifest file (a path, relative to the scenario file), or `{ generate: provider/name/version, size, model? }`. */
const updateSource = z.unknown().transform((raw, ctx): ParsedUpdateSource => {
  if (typeof raw === 'string' && raw !== '') return { file: raw }
  if (isPlainObject(raw)) {
    const r = 'generate' in raw ? generatedUpdate.safeParse(raw, { error: issueMessage }) : manifestFile.safeParse(raw, { error: issueMessage })
    if (r.success) return r.data
    forward(ctx, r.error.issues)
    return z.NEVER
  }
  ctx.issues.push({ code: 'custom', message: `an update is a manifest file (a path relative to the scenario) or { generate: provider/name/version, size: 256KiB }, got ${describeValue(raw)}`, input: raw })
  return z.NEVER
})

const percent = z.number().min(0).max(100)
const waveSchema = strict({
  percent: z.number().gt(0).max(100),
  soak: duration({ max: MAX_DURATION_MS }).optional(),
  successThreshold: percent.optional(),
  errorThreshold: percent.optional()
})
const perMinute = z.number().int().min(1).max(100_000)
const rateLimitSchema = strict({
  perMinute: perMinute.optional(),
  baseRate: perMinute.optional(),
  factor: z.number().min(1.1).max(5).optional(),
  notified: z.number().int().min(1).optional(),
  succeeded: z.number().int().min(1).optional(),
  maxPerMinute: perMinute.optional()
}).superRefine((r, ctx) => {
  const exponential = ['baseRate', 'factor', 'notified', 'succeeded', 'maxPerMinute'].filter((k) => r[k as keyof typeof r] !== undefined)
  if (r.perMinute !== undefined && exponential.length > 0) ctx.addIssue({ code: 'custom', message: `give perMinute (a constant rate) or baseRate, factor and notified or succeeded (an exponential one), not both (${exponential.join(', ')})` })
  else if (r.perMinute === undefined && (r.baseRate === undefined || r.factor === undefined || (r.notified === undefined && r.succeeded === undefined))) {
    ctx.addIssue({ code: 'custom', message: 'a rate limit is { perMinute } or { baseRate, factor, notified or succeeded, maxPerMinute }' })
  }
})
const deploymentSchema = strict({
  id: deploymentId,
  group: nonEmpty.optional(),
  update: updateKeySchema,
  startAt: nonEmpty.optional(),
  targetCondition: nonEmpty.optional(),
  waves: z.array(waveSchema).min(1).max(20).optional(),
  rateLimit: rateLimitSchema.optional(),
  abort: z.array(strict({ failureType: z.enum(FAILURE_TYPES), thresholdPercent: percent, minExecuted: z.number().int().min(1) })).optional(),
  inProgressTimeout: duration({ min: 1, max: MAX_DURATION_MS }).optional(),
  retries: z.number().int().min(0).max(10).optional(),
  rollback: strict({ update: updateKeySchema, failedPercent: percent.optional(), failedCount: z.number().int().min(1).optional() }).optional()
})
export type ParsedDeployment = z.output<typeof deploymentSchema>

const importStep = strict({ at, import: oneOrMany(updateSource), expect: rolloutExpectation.optional() })
const deployStep = strict({ at, deploy: deploymentSchema, expect: rolloutExpectation.optional() })
const rolloutStep = strict({
  at,
  rollout: z.enum(ROLLOUT_ACTIONS),
  deployment: deploymentId.optional(),
  down: duration({ max: MAX_DURATION_MS }).optional(),
  expect: rolloutExpectation.optional()
}).superRefine((st, ctx) => {
  if (st.rollout === 'restart') {
    if (st.deployment !== undefined) ctx.addIssue({ code: 'custom', path: ['deployment'], message: 'restart stops and starts the whole rollout service: it takes no deployment' })
  } else {
    if (st.deployment === undefined) ctx.addIssue({ code: 'custom', path: ['deployment'], message: `${st.rollout} needs the deployment's id: deployment: <id>` })
    if (st.down !== undefined) ctx.addIssue({ code: 'custom', path: ['down'], message: 'down is for restart: how long the rollout service stays down' })
  }
})

export type ParsedImportStep = z.output<typeof importStep>
export type ParsedDeployStep = z.output<typeof deployStep>
export type ParsedRolloutStep = z.output<typeof rolloutStep>

export type ParsedCommandStep = z.output<typeof commandStep>
export type ParsedDesiredStep = z.output<typeof desiredStep>
export type ParsedNoteStep = z.output<typeof noteStep>
export type ParsedCheckStep = z.output<typeof checkStep>
export type ParsedHearStep = z.output<typeof hearStep>
export type ParsedStep =
  | { kind: 'command'; step: ParsedCommandStep }
  | { kind: 'desired'; step: ParsedDesiredStep }
  | { kind: 'note'; step: ParsedNoteStep }
  | { kind: 'check'; step: ParsedCheckStep }
  | { kind: 'hear'; step: ParsedHearStep }
  | { kind: 'import'; step: ParsedImportStep }
  | { kind: 'deploy'; step: ParsedDeployStep }
  | { kind: 'rollout'; step: ParsedRolloutStep }

const ACTIONS = ['command', 'desired', 'note', 'hear', 'import', 'deploy', 'rollout'] as const
const STEP_SCHEMAS = { command: commandStep, desired: desiredStep, note: noteStep, hear: hearStep, import: importStep, deploy: deployStep, rollout: rolloutStep, check: checkStep } as const

/** One timeline entry: its kind follows from its keys (`command`, `desired`, `note`, or only `expect`). */
const stepSchema: z.ZodType<ParsedStep, unknown> = z.unknown().transform((raw, ctx): ParsedStep => {
  if (!isPlainObject(raw)) {
    ctx.issues.push({ code: 'custom', message: `a step must be a map with at: (a time) and one of ${ACTIONS.join(', ')} or expect, got ${describeValue(raw)}`, input: raw })
    return z.NEVER
  }
  let reject = false
  const input: Record<string, unknown> = { ...raw }
  if ('say' in input) {
    ctx.issues.push({ code: 'custom', path: ['say'], message: "say: is the speaker's text-to-speech command; to make a speaker hear an utterance use hear: (with from:), for a line in the progress and the report use note:", input: input.say })
    delete input.say
    reject = true
  }
  const actions = ACTIONS.filter((a) => a in input)
  const kind = actions[0] ?? ('expect' in input ? 'check' : undefined)
  if (kind === undefined) {
    if (reject) return z.NEVER
    // A misspelt action (`comand:`) is the likely cause: point at that key, with the suggestion.
    const known = [...ACTIONS, 'expect']
    const typo = Object.keys(raw).find((k) => !known.includes(k) && suggest(k, known) !== undefined)
    if (typo !== undefined) {
      ctx.issues.push({ code: 'custom', path: [typo], message: `unknown key "${typo}"${didYouMean(typo, known)}; a step needs one of ${ACTIONS.join(', ')} or expect`, input: raw[typo] })
    } else {
      ctx.issues.push({ code: 'custom', message: `a step needs one of ${ACTIONS.join(', ')} or expect (it has ${Object.keys(raw).join(', ') || 'no keys'})`, input: raw })
    }
    return z.NEVER
  }
  for (const extra of actions.slice(1)) {
    ctx.issues.push({ code: 'custom', path: [extra], message: `a step does one thing: this one has both ${kind} and ${extra}; make them two steps with the same at`, input: input[extra] })
    delete input[extra]
    reject = true
  }
  if (kind === 'command' && 'args' in input && 'payload' in input) {
    ctx.issues.push({ code: 'custom', path: ['payload'], message: 'give args (a map, sent as JSON) or payload (raw text), not both', input: input.payload })
    reject = true
  }
  const r = (STEP_SCHEMAS[kind] as z.ZodType<unknown, unknown>).safeParse(input, { error: issueMessage })
  if (!r.success) {
    forward(ctx, r.error.issues)
    return z.NEVER
  }
  if (reject) return z.NEVER
  switch (kind) {
    case 'command': return { kind, step: r.data as ParsedCommandStep }
    case 'desired': return { kind, step: r.data as ParsedDesiredStep }
    case 'note': return { kind, step: r.data as ParsedNoteStep }
    case 'check': return { kind, step: r.data as ParsedCheckStep }
    case 'hear': return { kind, step: r.data as ParsedHearStep }
    case 'import': return { kind, step: r.data as ParsedImportStep }
    case 'deploy': return { kind, step: r.data as ParsedDeployStep }
    case 'rollout': return { kind, step: r.data as ParsedRolloutStep }
  }
})

// ---- fleet ----------------------------------------------------------------------------------------------------

const version = nonEmpty
const perKindDurations = strict({
  speaker: duration({ min: 10, max: MAX_DURATION_MS }).optional(),
  band: duration({ min: 10, max: MAX_DURATION_MS }).optional(),
  camera: duration({ min: 10, max: MAX_DURATION_MS }).optional()
})
/** One duration for every kind, or a map by kind. */
const telemetryInterval = z.unknown().transform((raw, ctx): Partial<Record<DeviceKind, number>> => {
  if (isPlainObject(raw)) {
    const r = perKindDurations.safeParse(raw, { error: issueMessage })
    if (r.success) {
      const out: Partial<Record<DeviceKind, number>> = {}
      for (const k of DEVICE_KINDS) if (r.data[k] !== undefined) out[k] = r.data[k]
      return out
    }
    forward(ctx, r.error.issues)
    return z.NEVER
  }
  const r = duration({ min: 10, max: MAX_DURATION_MS }).safeParse(raw, { error: issueMessage })
  if (r.success) return { speaker: r.data, band: r.data, camera: r.data }
  forward(ctx, r.error.issues)
  return z.NEVER
})

const groupSchema = strict({
  kind: z.enum(DEVICE_KINDS),
  count: count.max(100_000),
  room: nonEmpty.optional(),
  idPrefix: z.string().regex(slugRe, { message: 'must be lower-case letters, digits and single dashes, like band or lab-cam' }).optional(),
  model: nonEmpty.optional(),
  firmware: version.optional(),
  telemetryInterval: duration({ min: 10, max: MAX_DURATION_MS }).optional(),
  tags: z.record(z.string(), z.string()).optional()
})

const fleetSchema = strict({
  demoHome: z.boolean().optional(),
  homes: count.max(10_000).optional(),
  groups: z.array(groupSchema).optional(),
  telemetryInterval: telemetryInterval.optional(),
  firmware: strict({ speaker: version.optional(), band: version.optional(), camera: version.optional() }).optional(),
  connectRate: z.number().min(0).max(1_000_000).optional()
})
export type ParsedFleet = z.output<typeof fleetSchema>

// ---- rollouts: updates imported before the timeline, the update agent and its faults -------------------------------

const rolloutSection = strict({
  updates: oneOrMany(updateSource).optional(),
  agent: strict({
    bandwidth: byteSize.optional(),
    installTime: duration({ max: MAX_DURATION_MS }).optional(),
    rebootTime: duration({ max: MAX_DURATION_MS }).optional(),
    downloadTimeout: duration({ min: 1, max: MAX_DURATION_MS }).optional(),
    progressSteps: z.number().int().min(0).max(100).optional()
  }).optional(),
  faults: z.array(strict({ fault: z.enum(UPDATE_FAULTS), target: selectorSchema.optional(), probability: z.number().min(0).max(1).optional() })).optional()
})
export type ParsedRolloutSection = z.output<typeof rolloutSection>

// ---- the file -------------------------------------------------------------------------------------------------

const brokerSchema = nonEmpty.refine((s) => s === 'embedded' || isBrokerUrl(s), {
  message: 'must be embedded or a broker URL such as mqtt://localhost:1883 (mqtt, mqtts, tcp, ssl, tls, ws or wss)'
})

export function isBrokerUrl (s: string): boolean {
  try {
    const u = new URL(s)
    return ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== ''
  } catch {
    return false
  }
}

export const scenarioSchema = strict({
  name: nonEmpty,
  description: z.string().optional(),
  seed: z.number().int().min(0).max(0xffff_ffff).optional(),
  broker: brokerSchema.optional(),
  prefix: nonEmpty.refine((p) => p.split('/').every(isValidLevel), { message: 'must be one or more topic levels (a/b), without + # $ or empty levels' }).optional(),
  duration: duration({ min: 1, max: MAX_DURATION_MS }).optional(),
  speed: z.number().min(0.001).max(100).optional(),
  startTime: z.string().refine((t) => t === 'now' || (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(t) && Number.isFinite(Date.parse(t))), {
    message: 'must be now or an ISO 8601 date-time with a time zone, such as 2026-06-12T19:00:00Z or 2026-06-12T21:00+02:00'
  }).optional(),
  fleet: fleetSchema.optional(),
  rollout: rolloutSection.optional(),
  timeline: z.array(stepSchema).optional(),
  expect: conditionsSchema.optional()
})
export type ParsedScenario = z.output<typeof scenarioSchema>

// ---- messages -------------------------------------------------------------------------------------------------

/** A value as a message shows it: `"many"`, `42`, `a list`, `a map`, `nothing`. */
function describeValue (v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'nothing (null)'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map'
  const s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : typeof v
  return s.length > 60 ? `${s.slice(0, 57)}…` : s
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map (key: value)',
  record: 'a map (key: value)'
}

/** zod's error map for scenario files: plain words, the value found, and a guess for a misspelt choice. */
export function issueMessage (issue: z.core.$ZodRawIssue): string | undefined {
  const input = issue.input
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) return 'is required'
      const expected = EXPECTED[issue.expected] ?? issue.expected
      if (issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')) {
        return `must be text, got ${describeValue(input)} (put it in quotes: "${String(input)}")`
      }
      return `must be ${expected}, got ${describeValue(input)}`
    }
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty'
      if (issue.origin === 'array') return `needs at least ${String(issue.minimum)} item(s)`
      return `must be ${issue.inclusive === false ? 'above' : 'at least'} ${String(issue.minimum)}, got ${describeValue(input)}`
    case 'too_big':
      if (issue.origin === 'array') return `may have at most ${String(issue.maximum)} item(s)`
      return `must be at most ${String(issue.maximum)}, got ${describeValue(input)}`
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v))
      if (values.length === 1) return `must be ${values[0] as string}, got ${describeValue(input)}`
      return `must be one of ${values.join(', ')}, got ${describeValue(input)}${typeof input === 'string' ? didYouMean(input, values) : ''}`
    }
    case 'invalid_format':
      return `has the wrong format, got ${describeValue(input)}`
    default:
      return undefined
  }
}
