/**
 * One base error with a stable `code`, made from one table, so errors are values a caller can branch on.
 * Every code here is listed in docs/errors.md; exit codes are the CLI's contract (docs/cli.md): 0 ok, 1 expectation failed,
 * 2 bad usage or bad input file, 3 broker unreachable or refused.
 */

export const ERROR_CODES = {
  FLEET_ERR_OPTIONS_INVALID: { exit: 2, message: 'invalid options' },
  FLEET_ERR_USAGE: { exit: 2, message: 'bad usage' },
  FLEET_ERR_SCENARIO_INVALID: { exit: 2, message: 'invalid scenario file' },
  FLEET_ERR_SCENARIO_NOT_FOUND: { exit: 2, message: 'scenario file not found' },
  FLEET_ERR_PORT_IN_USE: { exit: 3, message: 'port already in use' },
  FLEET_ERR_LISTEN: { exit: 3, message: 'cannot listen' },
  FLEET_ERR_BROKER_UNREACHABLE: { exit: 3, message: 'broker unreachable' },
  FLEET_ERR_BROKER_REFUSED: { exit: 3, message: 'broker refused the connection' },
  FLEET_ERR_TOPIC_INVALID: { exit: 2, message: 'invalid topic' },
  FLEET_ERR_COMMAND_TIMEOUT: { exit: 1, message: 'command timed out' },
  FLEET_ERR_BAD_REPLY: { exit: 1, message: 'a reply that is not a reply object' },
  FLEET_ERR_BROKER_LOST: { exit: 3, message: 'lost the broker for longer than the grace period' },
  FLEET_ERR_RUN_CONFLICT: { exit: 3, message: 'another run is live under this topic prefix' },
  FLEET_ERR_CLOSED: { exit: 1, message: 'already closed' },
  FLEET_ERR_MANIFEST_INVALID: { exit: 2, message: 'invalid update import manifest' },
  FLEET_ERR_ROLLOUT_INVALID: { exit: 2, message: 'invalid rollout request' },
  FLEET_ERR_ROLLOUT_NOT_FOUND: { exit: 2, message: 'no such update or deployment' },
  FLEET_ERR_ROLLOUT_CONFLICT: { exit: 2, message: 'the deployment cannot do that in its state' },
  FLEET_ERR_ROLLOUT_STORE: { exit: 1, message: 'rollout data directory unusable' },
  FLEET_ERR_ROLLOUT_TIMEOUT: { exit: 3, message: 'the rollout service did not answer' },
  FLEET_ERR_INTERNAL: { exit: 1, message: 'internal error' }
} as const satisfies Record<string, { exit: number; message: string }>

export type FleetErrorCode = keyof typeof ERROR_CODES

/** A problem found while validating input: where it is and what is wrong. */
export interface Issue {
  /** Dotted path of the field, e.g. `fleet.speakers.count` or `timeline[2].at`. */
  path: string
  message: string
  /** Source file, when the input came from a file. */
  file?: string
  /** 1-based line and column in `file`. */
  line?: number
  column?: number
}

export class FleetError extends Error {
  readonly code: FleetErrorCode
  readonly exitCode: number
  readonly issues: readonly Issue[]

  constructor (code: FleetErrorCode, message?: string, options: { cause?: unknown; issues?: readonly Issue[] } = {}) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FleetError'
    this.code = code
    this.exitCode = ERROR_CODES[code].exit
    this.issues = options.issues ?? []
  }
}

export function isFleetError (err: unknown): err is FleetError {
  return err instanceof FleetError
}

/** `file:line:column: path: message`, the form editors and CI logs link from. */
export function formatIssue (issue: Issue): string {
  const where = issue.file === undefined
    ? ''
    : `${issue.file}${issue.line === undefined ? '' : `:${issue.line}`}${issue.column === undefined ? '' : `:${issue.column}`}: `
  const field = issue.path === '' ? '' : `${issue.path}: `
  return `${where}${field}${issue.message}`
}

/** The message and every issue, one per line, for a terminal. */
export function formatError (err: unknown): string {
  if (isFleetError(err)) {
    const lines = [`${err.code}: ${err.message}`]
    for (const issue of err.issues) lines.push(`  ${formatIssue(issue)}`)
    return lines.join('\n')
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/**
 * Error codes a device puts in a command's error reply. They travel over MQTT, so they are plain strings
 * shared by devices, the bridge and scenarios (docs/topics.md lists them).
 */
export const REPLY_ERROR_CODES = [
  'BAD_REQUEST', // payload not JSON, or not an object
  'UNKNOWN_COMMAND',
  'INVALID_VALUE',
  'VALUE_OUT_OF_RANGE',
  'NOT_SUPPORTED',
  'DEVICE_OFF',
  'BUSY',
  'UPDATING', // in the middle of a firmware install or apply
  'INTERNAL'
] as const
export type ReplyErrorCode = typeof REPLY_ERROR_CODES[number]
