/**
 * The voice bridge's one error vocabulary: what a request or one device of it can end in, and the closest error of
 * the two big smart-home platforms, so a team porting a skill knows what each becomes (docs/voice.md has the table).
 * Alexa: the `type` of an `Alexa.ErrorResponse`. Google: the `errorCode` of an EXECUTE/QUERY response.
 */
import type { ReplyErrorCode } from '../../core/replies.ts'

export const VOICE_ERRORS = {
  notUnderstood: { alexa: '— (no intent: the skill is not invoked)', google: '— (no intent matched)', meaning: 'the utterance is None: not understood, or not something this home can do' },
  notFound: { alexa: 'NO_SUCH_ENDPOINT', google: 'deviceNotFound', meaning: 'no device of that name, or none in that room able to do it' },
  ambiguous: { alexa: '— (the dialog asks which one)', google: '— (disambiguation prompt)', meaning: 'several devices match and nothing decides; the answer lists them' },
  offline: { alexa: 'ENDPOINT_UNREACHABLE', google: 'deviceOffline', meaning: 'the device\'s retained status is offline' },
  deviceOff: { alexa: 'NOT_IN_OPERATION', google: 'deviceTurnedOff', meaning: 'the device is powered off (reply DEVICE_OFF)' },
  busy: { alexa: 'ENDPOINT_BUSY', google: 'deviceBusy', meaning: 'the device cannot take the request now (reply BUSY)' },
  updating: { alexa: 'ENDPOINT_BUSY', google: 'inSoftwareUpdate', meaning: 'the device is installing firmware (reply UPDATING)' },
  outOfRange: { alexa: 'VALUE_OUT_OF_RANGE', google: 'valueOutOfRange', meaning: 'the value is outside what the device accepts (reply VALUE_OUT_OF_RANGE)' },
  alreadyAtMax: { alexa: 'VALUE_OUT_OF_RANGE', google: 'volumeAlreadyMax', meaning: 'louder was asked of a speaker already at 100' },
  alreadyAtMin: { alexa: 'VALUE_OUT_OF_RANGE', google: 'volumeAlreadyMin', meaning: 'quieter was asked of a speaker already at 0' },
  notSupported: { alexa: 'INVALID_DIRECTIVE', google: 'functionNotSupported', meaning: 'the device cannot do that (no such command for its kind, or reply NOT_SUPPORTED / UNKNOWN_COMMAND)' },
  invalidValue: { alexa: 'INVALID_VALUE', google: 'notSupported', meaning: 'the device refused the value (reply INVALID_VALUE or BAD_REQUEST: no such track, nothing playing…)' },
  timeout: { alexa: 'ENDPOINT_UNREACHABLE', google: 'transientError', meaning: 'no reply within the bridge\'s command timeout' },
  internal: { alexa: 'INTERNAL_ERROR', google: 'hardError', meaning: 'the device failed (reply INTERNAL) or the bridge could not send' }
} as const satisfies Record<string, { alexa: string; google: string; meaning: string }>

export type VoiceErrorCode = keyof typeof VOICE_ERRORS

/** A device's reply code, in the voice vocabulary. */
export function fromReplyCode (code: string): VoiceErrorCode {
  switch (code as ReplyErrorCode) {
    case 'DEVICE_OFF': return 'deviceOff'
    case 'BUSY': return 'busy'
    case 'UPDATING': return 'updating'
    case 'VALUE_OUT_OF_RANGE': return 'outOfRange'
    case 'NOT_SUPPORTED': case 'UNKNOWN_COMMAND': return 'notSupported'
    case 'INVALID_VALUE': case 'BAD_REQUEST': return 'invalidValue'
    default: return 'internal'
  }
}
