/**
 * The command vocabulary as data: for each device kind, the commands it answers (arguments with their schema,
 * result fields, the reply codes each can give, a one-line description) and the desired properties it accepts.
 *
 * Devices implement this catalogue (their handlers are keyed by these names, and arguments are checked here before a
 * handler runs); a device's retained `info` advertises the names; the voice bridge and the scenario loader check
 * requests against the same data without importing devices/. Dependency-free on purpose, so `fleet --help` and any
 * other light reader can use it. docs/devices.md is the prose version; test/devices/kinds.test.ts fails when a
 * kind's handlers and this table disagree.
 */
import { CommandError, type ReplyErrorCode } from './replies.ts'

/** The device kinds. */
export const DEVICE_KINDS = ['speaker', 'band', 'camera'] as const
export type DeviceKind = typeof DEVICE_KINDS[number]

/**
 * Bumped when a command or desired property of an existing kind changes meaning or arguments (adding one does not
 * bump it: readers look names up). A device's `info` carries it, so a controller can tell which table it speaks.
 */
export const CATALOGUE_VERSION = 1

/** `HH:MM`, 24-hour, two digits each: `07:05` yes, `7:5`, `24:00` and `12:60` no. */
export const HHMM_RE = /^([01]\d|2[0-3]):([0-5]\d)$/

interface Described {
  /** One line for docs and error messages. */
  description?: string
}

/** A whole number (`type: 'integer'`) or any finite number, within `min`–`max` inclusive. */
export interface NumberSchema extends Described { type: 'integer' | 'number'; min: number; max: number; required?: boolean; default?: number }
export interface BooleanSchema extends Described { type: 'boolean'; required?: boolean; default?: boolean }
/**
 * A non-empty string of at most `maxLength` characters (longer: `VALUE_OUT_OF_RANGE`). `nullable`: `null` is a
 * value of its own (e.g. "no label").
 */
export interface StringSchema extends Described { type: 'string'; maxLength?: number; required?: boolean; nullable?: boolean }
/** A time of day, strictly `HH:MM` 24-hour ({@link HHMM_RE}). */
export interface TimeSchema extends Described { type: 'time'; required?: boolean; nullable?: boolean }
/** One of a fixed set of strings; `booleans`: `true`/`false` are also accepted and read as `on`/`off`. */
export interface EnumSchema extends Described { type: 'enum'; values: readonly string[]; required?: boolean; default?: string; booleans?: boolean }

/** The schema of one argument or desired property. */
export type ValueSchema = NumberSchema | BooleanSchema | StringSchema | TimeSchema | EnumSchema

export interface CommandSpec {
  description: string
  /** Arguments by name. Arguments not listed are ignored (a newer controller may send more). */
  args: Readonly<Record<string, ValueSchema>>
  /** At least one of these (optional) arguments must be given. */
  atLeastOne?: readonly string[]
  /** The fields of a successful reply's `result`. */
  result: readonly string[]
  /**
   * Reply codes this command gives beyond the ones every command can give ({@link COMMON_REPLY_CODES}) and the
   * ones its argument schema implies ({@link commandReplyCodes} adds those).
   */
  errors: readonly ReplyErrorCode[]
}

export interface PropertySpec extends Described {
  schema: ValueSchema
  /** Errors beyond the schema's (e.g. `DEVICE_OFF`). */
  errors?: readonly ReplyErrorCode[]
}

export interface KindSpec {
  description: string
  /** Commands by name, in the order they are documented. */
  commands: Readonly<Record<string, CommandSpec>>
  /**
   * Desired properties by name. A device applies them in this order, not the payload's: `{volume, power: true}` on
   * a speaker that is off must turn it on before setting the volume, whichever key the controller wrote first.
   */
  desired: Readonly<Record<string, PropertySpec>>
}

/**
 * Codes any command may answer whatever its schema: a payload that is not a JSON object, a bug in the simulated
 * device, a device in the middle of a firmware install or apply, one that cannot take the request now.
 */
export const COMMON_REPLY_CODES: readonly ReplyErrorCode[] = Object.freeze(['BAD_REQUEST', 'INTERNAL', 'UPDATING', 'BUSY'])

const level = { type: 'integer', min: 0, max: 100, required: true } as const
const onOff = { type: 'boolean', required: true } as const

/** The catalogue. Command names are a contract (docs/devices.md): rename one and every controller breaks. */
export const CATALOGUE = {
  speaker: {
    description: 'smart speaker: power, volume, playback, spoken answers',
    commands: {
      turnOn: { description: 'switch on', args: {}, result: ['power'], errors: [] },
      turnOff: { description: 'switch off (pauses playback)', args: {}, result: ['power'], errors: [] },
      setVolume: { description: 'set the volume', args: { level: { ...level, description: 'volume, 0–100' } }, result: ['volume'], errors: ['DEVICE_OFF'] },
      changeVolume: { description: 'change the volume by a signed step (the result is clamped to 0–100)', args: { delta: { type: 'integer', min: -100, max: 100, required: true, description: 'signed change' } }, result: ['volume'], errors: ['DEVICE_OFF'] },
      mute: { description: 'mute', args: {}, result: ['muted'], errors: ['DEVICE_OFF'] },
      unmute: { description: 'unmute', args: {}, result: ['muted'], errors: ['DEVICE_OFF'] },
      play: { description: 'play, from a track matching `track` if given', args: { track: { type: 'string', maxLength: 200, description: 'part of a playlist title' } }, result: ['playback', 'track'], errors: ['DEVICE_OFF'] },
      pause: { description: 'pause what is playing', args: {}, result: ['playback', 'track'], errors: ['DEVICE_OFF', 'INVALID_VALUE'] },
      resume: { description: 'resume what is paused', args: {}, result: ['playback', 'track'], errors: ['DEVICE_OFF', 'INVALID_VALUE'] },
      next: { description: 'skip to the next track', args: {}, result: ['playback', 'track'], errors: ['DEVICE_OFF'] },
      stop: { description: 'stop playback', args: {}, result: ['playback'], errors: ['DEVICE_OFF'] },
      say: { description: 'speak a text (emits event `spoke`)', args: { text: { type: 'string', maxLength: 500, required: true, description: 'what to say' } }, result: ['spoken'], errors: ['DEVICE_OFF'] }
    },
    desired: {
      power: { schema: onOff },
      volume: { schema: { type: 'integer', min: 0, max: 100, required: true }, errors: ['DEVICE_OFF'] },
      muted: { schema: onOff, errors: ['DEVICE_OFF'] }
    }
  },
  band: {
    description: 'fitness band: vitals, steps, battery, alarms, find my band',
    commands: {
      findDevice: { description: 'vibrate so the band can be found (emits event `vibrated`)', args: { durationMs: { type: 'integer', min: 1000, max: 30_000, default: 5000, description: 'vibration, milliseconds' } }, result: ['vibrating', 'durationMs'], errors: ['DEVICE_OFF'] },
      setAlarm: {
        description: 'set an alarm (at most 10; one at the same time is replaced)',
        args: {
          time: { type: 'time', required: true, description: 'HH:MM, 24-hour' },
          label: { type: 'string', maxLength: 32, nullable: true, description: 'what the alarm is for' },
          repeat: { type: 'boolean', default: false, description: 'every day, or once' }
        },
        result: ['time', 'label', 'repeat', 'nextRingAt', 'alarms'],
        errors: ['DEVICE_OFF', 'VALUE_OUT_OF_RANGE']
      },
      cancelAlarm: { description: 'cancel the alarm at `time`, or every alarm', args: { time: { type: 'time', description: 'HH:MM; none: all' } }, result: ['cancelled', 'alarms'], errors: ['DEVICE_OFF', 'INVALID_VALUE'] },
      sync: { description: 'sync with the phone', args: {}, result: ['steps', 'heartRate', 'battery', 'lastSync'], errors: ['DEVICE_OFF'] },
      getHeartRate: { description: 'the current heart rate', args: {}, result: ['heartRate', 'activity'], errors: ['DEVICE_OFF'] },
      getSteps: { description: 'steps today and the goal', args: {}, result: ['steps', 'goal'], errors: ['DEVICE_OFF'] },
      getBattery: { description: 'battery level (works with an empty battery)', args: {}, result: ['battery', 'charging', 'power'], errors: [] },
      setCharging: { description: 'put on or take off the charger', args: { on: onOff }, result: ['charging', 'battery'], errors: [] }
    },
    desired: {
      alarm: { schema: { type: 'time', required: true, nullable: true }, description: 'one daily alarm owned by the twin; null removes it' },
      stepGoal: { schema: { type: 'integer', min: 1000, max: 100_000, required: true } }
    }
  },
  camera: {
    description: 'security camera: power, live stream, snapshots, night vision, motion',
    commands: {
      turnOn: { description: 'switch on', args: {}, result: ['power'], errors: [] },
      turnOff: { description: 'switch off (privacy mode; stops the stream)', args: {}, result: ['power'], errors: [] },
      startStream: { description: 'start the live stream', args: { quality: { type: 'enum', values: ['720p', '1080p', '2k'], description: 'stream quality; default: unchanged' } }, result: ['streaming', 'url', 'quality'], errors: ['DEVICE_OFF'] },
      stopStream: { description: 'stop the live stream', args: {}, result: ['streaming'], errors: ['DEVICE_OFF'] },
      snapshot: { description: 'take a picture', args: { quality: { type: 'integer', min: 10, max: 100, default: 85, description: 'JPEG quality' } }, result: ['image', 'ts', 'bytes'], errors: ['DEVICE_OFF'] },
      setNightMode: {
        description: 'night vision on, off, or automatic (19:00–07:00)',
        args: {
          on: { type: 'boolean', description: 'on or off' },
          mode: { type: 'enum', values: ['on', 'off', 'auto'], description: 'on, off or auto' }
        },
        atLeastOne: ['on', 'mode'],
        result: ['nightMode', 'infrared'],
        errors: ['DEVICE_OFF']
      }
    },
    desired: {
      power: { schema: onOff },
      nightMode: { schema: { type: 'enum', values: ['on', 'off', 'auto'], booleans: true, required: true }, errors: ['DEVICE_OFF'] },
      streaming: { schema: onOff, errors: ['DEVICE_OFF'] }
    }
  }
} as const satisfies Readonly<Record<DeviceKind, KindSpec>>

/** The command names of a kind, as a type: handler tables are keyed by it, so a missing or extra handler is a type error. */
export type CommandName<K extends DeviceKind> = keyof typeof CATALOGUE[K]['commands'] & string
/** The desired property names of a kind, as a type. */
export type DesiredName<K extends DeviceKind> = keyof typeof CATALOGUE[K]['desired'] & string

/** The value a schema admits, as a type. */
export type ValueOf<S> =
  S extends { type: 'integer' | 'number' } ? number
    : S extends { type: 'boolean' } ? boolean
    : S extends { type: 'enum'; values: readonly (infer V)[] } ? V
    : S extends { nullable: true } ? string | null
    : string

type Present<S> = S extends { required: true } ? true : S extends { default: unknown } ? true : false
/** The arguments of a command after {@link checkArgs}: required and defaulted ones present, optional ones maybe. */
export type ArgsOf<A> =
  { [N in keyof A as Present<A[N]> extends true ? N : never]: ValueOf<A[N]> } &
  { [N in keyof A as Present<A[N]> extends true ? never : N]?: ValueOf<A[N]> }
/** The checked arguments of one command of one kind. */
export type CommandArgsOf<K extends DeviceKind, N extends CommandName<K>> = typeof CATALOGUE[K]['commands'][N] extends { args: infer A } ? ArgsOf<A> : never
/** The checked value of one desired property of one kind. */
export type DesiredValueOf<K extends DeviceKind, N extends DesiredName<K>> = typeof CATALOGUE[K]['desired'][N] extends { schema: infer S } ? ValueOf<S> : never

/** The spec of a kind, or undefined for a kind that does not exist. */
export function kindSpec (kind: string): KindSpec | undefined {
  return Object.hasOwn(CATALOGUE, kind) ? CATALOGUE[kind as DeviceKind] : undefined
}

/** The spec of one command of a kind, or undefined when the kind has no such command. */
export function commandSpec (kind: string, command: string): CommandSpec | undefined {
  const k = kindSpec(kind)
  return k !== undefined && Object.hasOwn(k.commands, command) ? k.commands[command] : undefined
}

/** The command names of each kind, in catalogue order. */
export const KIND_COMMANDS: Readonly<Record<DeviceKind, readonly string[]>> = Object.freeze(
  Object.fromEntries(DEVICE_KINDS.map((k) => [k, Object.freeze(Object.keys(CATALOGUE[k].commands))])) as Record<DeviceKind, readonly string[]>
)

/** The desired property names of each kind, in the order they are applied. */
export const KIND_DESIRED: Readonly<Record<DeviceKind, readonly string[]>> = Object.freeze(
  Object.fromEntries(DEVICE_KINDS.map((k) => [k, Object.freeze(Object.keys(CATALOGUE[k].desired))])) as Record<DeviceKind, readonly string[]>
)

/** Every reply code a command can give: the common ones, the ones its schema implies, and its own. */
export function commandReplyCodes (spec: CommandSpec): ReplyErrorCode[] {
  const codes = new Set<ReplyErrorCode>(COMMON_REPLY_CODES)
  for (const s of Object.values(spec.args)) for (const c of schemaCodes(s)) codes.add(c)
  for (const c of spec.errors) codes.add(c)
  return [...codes]
}

function schemaCodes (s: ValueSchema): ReplyErrorCode[] {
  if (s.type === 'integer' || s.type === 'number' || (s.type === 'string' && s.maxLength !== undefined)) return ['INVALID_VALUE', 'VALUE_OUT_OF_RANGE']
  return ['INVALID_VALUE']
}

/**
 * Check a command's arguments against its spec and return them with defaults filled in. Throws a
 * {@link CommandError} naming the argument: `INVALID_VALUE` for a missing, mistyped or malformed one,
 * `VALUE_OUT_OF_RANGE` for a number outside its range or a string too long. Arguments the spec does not list are
 * dropped.
 *
 * @example
 * checkArgs(CATALOGUE.speaker.commands.setVolume, { level: 30 }) // { level: 30 }
 * checkArgs(CATALOGUE.speaker.commands.setVolume, { level: 130 }) // throws VALUE_OUT_OF_RANGE
 */
export function checkArgs (spec: CommandSpec, args: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name in spec.args) {
    const v = checkValue(spec.args[name] as ValueSchema, args[name], `argument "${name}"`)
    if (v !== undefined) out[name] = v
  }
  if (spec.atLeastOne !== undefined && !spec.atLeastOne.some((n) => out[n] !== undefined)) {
    throw new CommandError('INVALID_VALUE', `give ${spec.atLeastOne.map((n) => `"${n}" (${describeSchema(spec.args[n] as ValueSchema)})`).join(' or ')}`)
  }
  return out
}

/**
 * Check one value against a schema; `what` names it in the message (`argument "level"`, `"volume"`). Returns the
 * value (or its default; `undefined` when optional and absent), or throws a {@link CommandError}.
 */
export function checkValue (s: ValueSchema, v: unknown, what: string): unknown {
  if (v === undefined) {
    if ('default' in s && s.default !== undefined) return s.default
    if (s.required === true) throw new CommandError('INVALID_VALUE', `${what} is required (${describeSchema(s)})`)
    return undefined
  }
  const bad = (): CommandError => new CommandError('INVALID_VALUE', `${what} must be ${describeSchema(s)}, got ${JSON.stringify(v)}`)
  switch (s.type) {
    case 'integer':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new CommandError('INVALID_VALUE', `${what} must be a number, got ${JSON.stringify(v)}`)
      if (v < s.min || v > s.max) throw new CommandError('VALUE_OUT_OF_RANGE', `${what} must be from ${s.min} to ${s.max}, got ${v}`)
      if (s.type === 'integer' && !Number.isInteger(v)) throw new CommandError('INVALID_VALUE', `${what} must be a whole number, got ${v}`)
      return v
    case 'boolean':
      if (typeof v !== 'boolean') throw bad()
      return v
    case 'string':
      if (v === null && s.nullable === true) return null
      if (typeof v !== 'string' || v === '') throw bad()
      if (s.maxLength !== undefined && v.length > s.maxLength) throw new CommandError('VALUE_OUT_OF_RANGE', `${what} must be at most ${s.maxLength} characters, got ${v.length}`)
      return v
    case 'time':
      if (v === null && s.nullable === true) return null
      if (typeof v !== 'string' || !HHMM_RE.test(v)) throw bad()
      return v
    case 'enum':
      if (typeof v === 'boolean' && s.booleans === true) return v ? 'on' : 'off'
      if (typeof v !== 'string' || !s.values.includes(v)) throw bad()
      return v
  }
}

/** What a schema admits, in words: `a whole number from 0 to 100`, `one of 720p, 1080p, 2k`. */
export function describeSchema (s: ValueSchema): string {
  const orNull = 'nullable' in s && s.nullable === true ? ' or null' : ''
  switch (s.type) {
    case 'integer': return `a whole number from ${s.min} to ${s.max}`
    case 'number': return `a number from ${s.min} to ${s.max}`
    case 'boolean': return 'true or false'
    case 'string': return `a non-empty string${s.maxLength === undefined ? '' : ` of at most ${s.maxLength} characters`}${orNull}`
    case 'time': return `HH:MM (24-hour, e.g. 07:30)${orNull}`
    case 'enum': return `one of ${s.values.join(', ')}${s.booleans === true ? ', true or false' : ''}`
  }
}
