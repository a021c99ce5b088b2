/**
 * The reply half of the command contract, defined once for everyone who sends or answers commands (devices, the
 * bridge, the scenario runner, the CLI): the reply shape, the HTTP-like status of each error code, and the error a
 * command handler or an argument check throws. The codes themselves are {@link REPLY_ERROR_CODES} in errors.ts.
 */
import { REPLY_ERROR_CODES, type ReplyErrorCode } from './errors.ts'

export { REPLY_ERROR_CODES, type ReplyErrorCode }

/** The status of a successful reply. */
export const REPLY_OK_STATUS = 200

/**
 * HTTP-like status that travels in a reply, so dashboards can tell the caller's mistakes (4xx) from the device's
 * (5xx) at a glance. `UPDATING` is 503 like a service in maintenance: the same request will work after the update.
 */
export const REPLY_STATUS: Readonly<Record<ReplyErrorCode, number>> = Object.freeze({
  BAD_REQUEST: 400,
  INVALID_VALUE: 400,
  VALUE_OUT_OF_RANGE: 400,
  UNKNOWN_COMMAND: 404,
  NOT_SUPPORTED: 501,
  DEVICE_OFF: 409,
  BUSY: 409,
  UPDATING: 503,
  INTERNAL: 500
})

/** A successful answer on `{p}/{id}/replies/{rid}`. */
export interface ReplyOk { rid: string; command: string; ok: true; status: number; result: Record<string, unknown> }
/** An error answer on `{p}/{id}/replies/{rid}`; `error.code` is one of {@link REPLY_ERROR_CODES}. */
export interface ReplyError { rid: string; command: string; ok: false; status: number; error: { code: string; message: string } }
/** A device's answer to one command (docs/topics.md, "Commands and replies"). */
export type Reply = ReplyOk | ReplyError

/** Is this string one of the reply error codes? */
export function isReplyErrorCode (code: string): code is ReplyErrorCode {
  return (REPLY_ERROR_CODES as readonly string[]).includes(code)
}

/** Thrown by a command handler or an argument check: becomes an error reply `{ok:false, status, error:{code, message}}`. */
export class CommandError extends Error {
  readonly code: ReplyErrorCode
  constructor (code: ReplyErrorCode, message: string) {
    super(message)
    this.name = 'CommandError'
    this.code = code
  }

  /** The reply this error becomes, without the request id. */
  toReply (command: string): Omit<ReplyError, 'rid'> {
    return { command, ok: false, status: REPLY_STATUS[this.code], error: { code: this.code, message: this.message } }
  }
}
