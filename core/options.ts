/**
 * Options are validated once, at start-up, with every problem reported together (fastify's
 * initial-config-validation habit), then merged over frozen defaults (aedes's `defaultOptions` habit).
 */
import { FleetError, type Issue } from './errors.ts'

export class IssueCollector {
  readonly issues: Issue[] = []
  add (path: string, message: string): void { this.issues.push({ path, message }) }

  integer (path: string, value: unknown, min: number, max: number): void {
    if (value === undefined) return
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.add(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
  }

  number (path: string, value: unknown, min: number, max: number): void {
    if (value === undefined) return
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.add(path, `must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
  }

  string (path: string, value: unknown, allowEmpty = false): void {
    if (value === undefined) return
    if (typeof value !== 'string' || (!allowEmpty && value === '')) this.add(path, `must be a ${allowEmpty ? '' : 'non-empty '}string, got ${JSON.stringify(value)}`)
  }

  oneOf (path: string, value: unknown, allowed: readonly string[]): void {
    if (value === undefined) return
    if (typeof value !== 'string' || !allowed.includes(value)) this.add(path, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
  }

  /** Throw one FLEET_ERR_OPTIONS_INVALID naming every problem, if there were any. */
  throwIfAny (what: string): void {
    if (this.issues.length === 0) return
    const summary = this.issues.map((i) => `${i.path} ${i.message}`).join('; ')
    throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `invalid ${what} options: ${summary}`, { issues: this.issues })
  }
}

/** Defaults first, then given options; keys whose value is `undefined` keep the default. Result frozen. */
export function mergeOptions<T extends object> (defaults: Readonly<T>, given: Partial<T> | undefined): Readonly<T> {
  const out: Record<string, unknown> = { ...defaults }
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) out[k] = v
  return Object.freeze(out) as T
}
