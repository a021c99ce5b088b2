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

export type Step = CommandStep | DesiredStep | NoteStep | CheckStep | HearStep

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

export type Condition = StateCondition | TelemetryCondition | EventsCondition | MessagesCondition | PresenceCondition
export const CONDITION_TYPES = ['state', 'telemetry', 'events', 'messages', 'online', 'offline'] as const

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

/** A map of conditions; each kind may be one condition or a list of them. */
const conditionsSchema = strict({
  state: oneOrMany(stateCondition).optional(),
  telemetry: oneOrMany(telemetryCondition).optional(),
  events: oneOrMany(eventsCondition).optional(),
  messages: oneOrMany(messagesCondition).optional(),
  online: oneOrMany(presenceCondition).optional(),
  offline: oneOrMany(presenceCondition).optional()
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

const ACTIONS = ['command', 'desired', 'note', 'hear'] as const

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
  const schema = kind === 'command' ? commandStep : kind === 'desired' ? desiredStep : kind === 'note' ? noteStep : kind === 'hear' ? hearStep : checkStep
  const r = schema.safeParse(input, { error: issueMessage })
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
