import type { ReplyErrorCode } from '../core/errors.ts'

/** HTTP-like status that travels in a reply, so dashboards can tell client errors from device errors at a glance. */
export const REPLY_STATUS: Record<ReplyErrorCode, number> = {
  BAD_REQUEST: 400,
  INVALID_VALUE: 400,
  VALUE_OUT_OF_RANGE: 400,
  UNKNOWN_COMMAND: 404,
  NOT_SUPPORTED: 501,
  DEVICE_OFF: 409,
  BUSY: 409,
  INTERNAL: 500
}

/** Thrown by a command handler: becomes an error reply `{ok:false, status, error:{code, message}}`. */
export class CommandError extends Error {
  readonly code: ReplyErrorCode
  constructor (code: ReplyErrorCode, message: string) {
    super(message)
    this.name = 'CommandError'
    this.code = code
  }
}

type Args = Record<string, unknown>

/** Argument readers for command handlers: each throws the right CommandError naming the argument. */
export const arg = {
  number (args: Args, name: string, min: number, max: number): number {
    const v = args[name]
    if (v === undefined) throw new CommandError('INVALID_VALUE', `argument "${name}" is required (a number from ${min} to ${max})`)
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CommandError('INVALID_VALUE', `argument "${name}" must be a number, got ${JSON.stringify(v)}`)
    if (v < min || v > max) throw new CommandError('VALUE_OUT_OF_RANGE', `argument "${name}" must be from ${min} to ${max}, got ${v}`)
    return v
  },
  integer (args: Args, name: string, min: number, max: number): number {
    const v = arg.number(args, name, min, max)
    if (!Number.isInteger(v)) throw new CommandError('INVALID_VALUE', `argument "${name}" must be a whole number, got ${v}`)
    return v
  },
  /** One of a fixed set of strings, e.g. a stream quality or a night mode. */
  oneOf<T extends string> (args: Args, name: string, values: readonly T[]): T {
    const v = args[name]
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw new CommandError('INVALID_VALUE', `argument "${name}" must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`)
    }
    return v as T
  },
  boolean (args: Args, name: string): boolean {
    const v = args[name]
    if (typeof v !== 'boolean') throw new CommandError('INVALID_VALUE', `argument "${name}" must be true or false, got ${JSON.stringify(v)}`)
    return v
  },
  string (args: Args, name: string, options: { optional?: boolean; pattern?: RegExp; hint?: string } = {}): string | undefined {
    const v = args[name]
    if (v === undefined && options.optional === true) return undefined
    if (typeof v !== 'string' || v === '') throw new CommandError('INVALID_VALUE', `argument "${name}" must be a non-empty string${options.hint === undefined ? '' : ` (${options.hint})`}, got ${JSON.stringify(v)}`)
    if (options.pattern !== undefined && !options.pattern.test(v)) throw new CommandError('INVALID_VALUE', `argument "${name}" must be ${options.hint ?? `like ${String(options.pattern)}`}, got ${JSON.stringify(v)}`)
    return v
  }
}

/**
 * Readers for one desired-state property's value: like {@link arg}, but the message names the property, since a
 * desired-state message has no arguments. The message ends up in the reported state's `$desiredErrors`.
 */
export const desiredValue = {
  boolean (name: string, v: unknown): boolean {
    if (typeof v !== 'boolean') throw new CommandError('INVALID_VALUE', `"${name}" must be true or false, got ${JSON.stringify(v)}`)
    return v
  }
}
