/**
 * Typed option tables for the `fleet` commands (vitest's CLI habit: flags generated from one table, so the parser,
 * the help text and docs/cli.md cannot drift). A table maps camelCase keys to {@link OptionSpec}s; the flag is the
 * key in kebab-case (`logLevel` → `--log-level`). From one table we build node:util `parseArgs` config (strict),
 * convert and validate every value, apply defaults, and (in help.ts) print the help.
 *
 * Defaults are written as the text a user would type (`'5s'`, `1883`), and go through the same converter as a
 * typed value, so a default can never be something the flag itself would refuse (test/cli/options.test.ts checks).
 */
import { parseArgs } from 'node:util'
import { FleetError } from '../core/errors.ts'
import { formatDuration, parseDuration } from '../core/duration.ts'
import { suggest } from '../core/suggest.ts'

/** A converter's answer: the value, or what was expected (`an integer from 0 to 65535`). */
export type Converted = { ok: true; value: unknown } | { ok: false; expected: string }

declare const valueType: unique symbol

export interface OptionSpec<T> {
  /** A boolean switch (`--json`): takes no value, false when absent. */
  readonly isSwitch: boolean
  readonly description: string
  readonly short: string | undefined
  /** Placeholder in help: `--port <N>`. Undefined for booleans. */
  readonly valueName: string | undefined
  /** The flag may be repeated; the value is an array. */
  readonly multiple: boolean
  /** The default as typed on the command line; undefined when there is none. */
  readonly default: string | undefined
  /** Help text for the default when it is not a literal value (`the scenario's seed`). */
  readonly defaultText: string | undefined
  readonly choices: readonly string[] | undefined
  /** Keys of options that must be given when this one is. */
  readonly requires: readonly string[]
  /** Raw text to value (one element for a repeatable option). Not called for booleans. */
  readonly convert: (raw: string) => Converted
  /** Type-level only: the parsed value's type. */
  readonly [valueType]?: (value: T) => T
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptionTable = Readonly<Record<string, OptionSpec<any>>>

/** The parsed values of a table: `{ port: number; seed: number | undefined; json: boolean; device: string[] }`. */
export type OptionValues<O extends OptionTable> = { -readonly [K in keyof O]: O[K] extends OptionSpec<infer T> ? T : never }

/** Value type given a default: with no default the option may be absent. */
type Def<D, V> = [D] extends [undefined] ? V | undefined : V

interface Common {
  description: string
  short?: string
  valueName?: string
  defaultText?: string
  requires?: readonly string[]
}

function spec<T> (c: Common, extra: { isSwitch?: boolean; valueName: string | undefined; multiple?: boolean; default?: string | number | undefined; choices?: readonly string[]; convert: (raw: string) => Converted }): OptionSpec<T> {
  return Object.freeze({
    isSwitch: extra.isSwitch ?? false,
    description: c.description,
    short: c.short,
    valueName: c.valueName ?? extra.valueName,
    multiple: extra.multiple ?? false,
    default: extra.default === undefined ? undefined : String(extra.default),
    defaultText: c.defaultText,
    choices: extra.choices,
    requires: c.requires ?? [],
    convert: extra.convert
  })
}

const ok = (value: unknown): Converted => ({ ok: true, value })
const bad = (expected: string): Converted => ({ ok: false, expected })

/** A boolean switch; false when absent. */
export function flag (c: Common): OptionSpec<boolean> {
  return spec(c, { isSwitch: true, valueName: undefined, convert: () => ok(true) })
}

/** Free text; `check` returns what was expected when the text is not acceptable. Empty text is refused. */
export function stringOption<D extends string | undefined = undefined> (c: Common & { default?: D; check?: (v: string) => string | undefined }): OptionSpec<Def<D, string>> {
  return spec(c, {
    valueName: 'TEXT',
    default: c.default,
    convert: (raw) => {
      if (raw === '') return bad(c.check === undefined ? 'a non-empty value' : c.check(raw) ?? 'a non-empty value')
      const problem = c.check?.(raw)
      return problem === undefined ? ok(raw) : bad(problem)
    }
  })
}

/** A repeatable text option: `--device a --device 'b*'`; `[]` when absent. With `choices`, each value must be one. */
export function listOption (c: Common & { choices?: readonly string[]; check?: (v: string) => string | undefined }): OptionSpec<string[]> {
  return spec(c, {
    valueName: c.choices === undefined ? 'TEXT' : 'VALUE',
    multiple: true,
    ...(c.choices === undefined ? {} : { choices: c.choices }),
    convert: (raw) => {
      if (raw === '') return bad('a non-empty value')
      if (c.choices !== undefined && !c.choices.includes(raw)) return bad(`one of ${c.choices.join(', ')}`)
      const problem = c.check?.(raw)
      return problem === undefined ? ok(raw) : bad(problem)
    }
  })
}

const INTEGER_RE = /^[+-]?\d+$/

export function integerOption<D extends number | undefined = undefined> (c: Common & { min: number; max: number; default?: D }): OptionSpec<Def<D, number>> {
  return spec(c, {
    valueName: 'N',
    default: c.default,
    convert: (raw) => {
      const n = INTEGER_RE.test(raw.trim()) ? Number(raw) : NaN
      return Number.isSafeInteger(n) && n >= c.min && n <= c.max ? ok(n) : bad(`an integer from ${c.min} to ${c.max}`)
    }
  })
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i

/** A decimal number from `min` to `max`. */
export function numberOption<D extends number | undefined = undefined> (c: Common & { min: number; max: number; default?: D }): OptionSpec<Def<D, number>> {
  return spec(c, {
    valueName: 'X',
    default: c.default,
    convert: (raw) => {
      const n = NUMBER_RE.test(raw.trim()) ? Number(raw) : NaN
      return Number.isFinite(n) && n >= c.min && n <= c.max ? ok(n) : bad(`a number from ${c.min} to ${c.max}`)
    }
  })
}

export function enumOption<const C extends readonly string[], D extends C[number] | undefined = undefined> (c: Common & { choices: C; default?: D }): OptionSpec<Def<D, C[number]>> {
  return spec(c, {
    valueName: 'VALUE',
    default: c.default,
    choices: c.choices,
    convert: (raw) => c.choices.includes(raw) ? ok(raw) : bad(`one of ${c.choices.join(', ')}`)
  })
}

/** A duration, parsed to milliseconds; `minMs`/`maxMs` bound it. */
export function durationOption<D extends string | undefined = undefined> (c: Common & { minMs: number; maxMs: number; default?: D }): OptionSpec<Def<D, number>> {
  return spec(c, {
    valueName: 'DURATION',
    default: c.default,
    convert: (raw) => {
      const ms = parseDuration(raw)
      const expected = c.minMs > 0
        ? `a duration from ${formatDuration(c.minMs)} to ${formatDuration(c.maxMs)} such as 500ms, 5s, 2m or 1h`
        : `a duration up to ${formatDuration(c.maxMs)} such as 500ms, 5s, 2m or 1h, or 0`
      return ms !== undefined && ms >= c.minMs && ms <= c.maxMs ? ok(ms) : bad(expected)
    }
  })
}

/** MQTT.js's URL schemes. */
export const BROKER_PROTOCOLS = ['mqtt', 'mqtts', 'tcp', 'tls', 'ws', 'wss'] as const

/** A broker URL; `keywords` are words accepted as they are (`embedded`). */
export function urlOption<D extends string | undefined = undefined> (c: Common & { default?: D; keywords?: readonly string[] }): OptionSpec<Def<D, string>> {
  const words = c.keywords ?? []
  const orWords = words.length === 0 ? '' : ` or ${words.join(', ')}`
  return spec(c, {
    valueName: 'URL',
    default: c.default,
    convert: (raw) => {
      if (words.includes(raw)) return ok(raw)
      let url: URL
      try { url = new URL(raw) } catch { return bad(`a broker URL such as mqtt://127.0.0.1:1883${orWords}`) }
      const scheme = url.protocol.slice(0, -1)
      if (!(BROKER_PROTOCOLS as readonly string[]).includes(scheme)) return bad(`a broker URL with one of the schemes ${BROKER_PROTOCOLS.map((p) => `${p}://`).join(', ')}`)
      if (url.hostname === '') return bad('a broker URL with a host, such as mqtt://127.0.0.1:1883')
      return ok(raw)
    }
  })
}

// ---- parsing ---------------------------------------------------------------------------------------------------

/** `logLevel` → `log-level`. */
export function flagName (key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

export interface PositionalSpec {
  readonly name: string
  readonly description: string
  readonly required: boolean
  /** The last positional only: takes every remaining argument (`fleet rollout import FILE...`). */
  readonly variadic?: boolean
}

/**
 * A bad command line: FLEET_ERR_USAGE (exit 2) that knows which command's help to point at.
 * `command` is `''` for `fleet` itself.
 */
export class UsageError extends FleetError {
  readonly command: string
  constructor (command: string, message: string) {
    super('FLEET_ERR_USAGE', message)
    this.command = command
  }
}

export interface ParsedCommandLine<O extends OptionTable> {
  values: OptionValues<O>
  positionals: string[]
}

/**
 * Parse `args` against a table with node:util parseArgs (strict), then convert, validate, default and cross-check.
 * Throws {@link UsageError} with a one-line message naming the flag and the value.
 */
export function parseCommandLine<O extends OptionTable> (command: string, table: O, args: readonly string[], positionals: readonly PositionalSpec[] = []): ParsedCommandLine<O> {
  const byFlag = new Map<string, string>()
  const byShort = new Map<string, string>()
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const [key, s] of Object.entries(table)) {
    const name = flagName(key)
    byFlag.set(name, key)
    if (s.short !== undefined) byShort.set(s.short, key)
    config[name] = { type: s.isSwitch ? 'boolean' : 'string', ...(s.short === undefined ? {} : { short: s.short }), ...(s.multiple ? { multiple: true } : {}) }
  }

  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...args], options: config, strict: true, allowPositionals: true, tokens: true })
  } catch (err) {
    throw new UsageError(command, translateParseArgsError(err, byFlag, byShort))
  }

  const raw = parsed.values as Record<string, string | boolean | (string | boolean)[] | undefined>
  const given = new Set<string>()
  const counts = new Map<string, number>()
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue
    counts.set(token.name, (counts.get(token.name) ?? 0) + 1)
  }

  const values: Record<string, unknown> = {}
  for (const [key, s] of Object.entries(table)) {
    const name = flagName(key)
    const r = raw[name]
    if (r === undefined) {
      values[key] = defaultValue(key, s)
      continue
    }
    given.add(key)
    if (!s.multiple && (counts.get(name) ?? 0) > 1) throw new UsageError(command, `--${name} was given more than once`)
    if (s.isSwitch) { values[key] = true; continue }
    const texts = (Array.isArray(r) ? r : [r]).map(String)
    const out: unknown[] = []
    for (const text of texts) {
      const c = s.convert(text)
      if (!c.ok) throw new UsageError(command, `--${name} expects ${c.expected}, got ${JSON.stringify(text)}`)
      out.push(c.value)
    }
    values[key] = s.multiple ? out : out[0]
  }

  for (const key of given) {
    const s = table[key] as OptionSpec<unknown>
    for (const other of s.requires) {
      if (!given.has(other)) throw new UsageError(command, `--${flagName(key)} needs --${flagName(other)}`)
    }
  }

  const pos = parsed.positionals
  const required = positionals.filter((p) => p.required).length
  if (pos.length < required) {
    const missing = positionals.slice(pos.length).filter((p) => p.required).map((p) => `<${p.name}>`)
    throw new UsageError(command, `missing ${missing.join(' ')}`)
  }
  if (pos.length > positionals.length && positionals[positionals.length - 1]?.variadic !== true) {
    const extra = pos.slice(positionals.length)
    const what = extra.length === 1 ? 'argument' : 'arguments'
    throw new UsageError(command, `unexpected ${what} ${extra.map((e) => JSON.stringify(e)).join(' ')}${positionals.length === 0 ? ` (fleet ${command} takes no arguments)` : ''}`)
  }
  return { values: values as OptionValues<O>, positionals: pos }
}

function defaultValue (key: string, s: OptionSpec<unknown>): unknown {
  if (s.isSwitch) return false
  if (s.default === undefined) return s.multiple ? [] : undefined
  const c = s.convert(s.default)
  // A programming error, not a user's: the table's own default is refused by its converter.
  if (!c.ok) throw new FleetError('FLEET_ERR_INTERNAL', `the default of --${flagName(key)} (${s.default}) is not ${c.expected}`)
  return s.multiple ? [c.value] : c.value
}

/** node:util's messages are long and mention its own syntax; say the same in one line, naming the flag. */
function translateParseArgsError (err: unknown, byFlag: ReadonlyMap<string, string>, byShort: ReadonlyMap<string, string>): string {
  const e = err as { code?: string; message?: string }
  const message = e.message ?? String(err)
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? ''
  const longOf = (text: string): string | undefined => {
    const long = /--([\w-]+)/.exec(text)?.[1]
    if (long !== undefined) return `--${long}`
    const short = /(?:^|\s)-(\w)\b/.exec(text)?.[1]
    if (short !== undefined) {
      const key = byShort.get(short)
      return key === undefined ? `-${short}` : `--${flagName(key)}`
    }
    return undefined
  }
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const opt = quoted === '' ? message : quoted
      const name = opt.replace(/^-+/, '').split('=')[0] ?? ''
      const hint = opt.startsWith('--') ? suggest(name, [...byFlag.keys()]) : undefined
      return `unknown option ${opt}${hint === undefined ? '' : ` (did you mean --${hint}?)`}`
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const opt = longOf(quoted) ?? quoted
      if (/does not take an argument/.test(message)) return `${opt} is a switch and takes no value`
      if (/ambiguous/.test(message)) return `${opt} needs a value (for a value starting with "-", write ${opt}=-…)`
      return `${opt} needs a value`
    }
    default:
      return message.split('\n')[0] ?? message
  }
}
