/**
 * The voice service: utterance → recognizer → resolution → commands over MQTT → one answer, spoken by the speaker
 * that heard it. Serves `{p}/$bridge/voice/requests/{rid}` (JSON `{utterance, from?, lang?}`) with
 * `{p}/$bridge/voice/answers/{rid}`, and {@link VoiceService.ask} for in-process callers (`fleet voice say`,
 * scenarios). A bad request payload gets an error answer and a log line; the service keeps running.
 */
import type { MqttClient } from 'mqtt'
import type { Commander } from '../../core/commander.ts'
import { isFleetError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { Topics } from '../../core/topics.ts'
import type { HomeModel, KnownDevice } from '../home.ts'
import { actionFor, INFO_INTENTS, supports } from './actions.ts'
import { fromReplyCode, type VoiceErrorCode } from './errors.ts'
import { LANGS, type IntentName, type Lang, type Slots } from './intents.ts'
import type { Recognizer } from './recognizer.ts'
import { resolveTargets } from './resolve.ts'
import { ambiguousSpeech, missingSlotSpeech, notFoundSpeech, notUnderstoodSpeech, resultsSpeech, type DeviceResult } from './speech.ts'

export type { DeviceResult } from './speech.ts'

/** How a request ended: every device did it, some did, none did, a question back, or not understood. */
export type VoiceOutcome = 'done' | 'partial' | 'failed' | 'reprompt' | 'notUnderstood'

/** The answer on `{p}/$bridge/voice/answers/{rid}`, and what {@link VoiceService.ask} resolves with. */
export interface VoiceAnswer {
  rid?: string
  utterance: string
  lang: Lang
  intent: IntentName
  confidence: number
  slots: Slots
  outcome: VoiceOutcome
  /** Why nothing was done, for the whole request: notUnderstood, notFound, ambiguous (or a bad request payload). */
  error?: VoiceErrorCode | 'badRequest'
  /** For `ambiguous`: the devices that matched. */
  candidates?: Array<{ deviceId: string; name: string; room: string }>
  /** What Cortana says. */
  speech: string
  /** Per device: ok, or an error of the voice vocabulary. */
  results: DeviceResult[]
  /** The device that heard the request, and whether it spoke the answer (its `say` command succeeded). */
  from?: string
  spoken?: boolean
}

export interface AskOptions {
  from?: string | undefined
  lang?: Lang | undefined
  rid?: string | undefined
  /** Wait this long for each device's reply (default: the service's). */
  timeoutMs?: number | undefined
}

/** Longest text a speaker's `say` takes (core/catalogue.ts). */
const SAY_MAX = 500

export interface VoiceServiceOptions {
  client: MqttClient
  topics: Topics
  home: HomeModel
  commander: Commander
  recognizer: Recognizer
  logger: Logger
  /** How long to wait for each device's reply. */
  commandTimeoutMs: number
}

export class VoiceService {
  private readonly o: VoiceServiceOptions
  private readonly stopListening: () => void
  /** Answers still being worked on; `stop()` waits for none of them, but counts them. */
  inFlight = 0

  constructor (options: VoiceServiceOptions) {
    this.o = options
    const vocabulary = options.recognizer.vocabulary
    for (const d of options.home.all()) vocabulary.addDevice(d.name)
    // The recognizer's names follow the home: a device that joins late can be named at once.
    this.stopListening = options.home.onChange((c) => {
      if (c.type === 'joined') vocabulary.addDevice(c.device.name)
      else if (c.type === 'forgotten') vocabulary.removeDevice(c.name)
    })
  }

  /** The recognizer, its vocabulary following the home. */
  get recognizer (): Recognizer { return this.o.recognizer }

  stop (): void { this.stopListening() }

  /** Serve one request message; publishes the answer. Never throws: a bad payload gets an error answer. */
  handleRequest (rid: string, payload: Buffer): void {
    this.inFlight++
    this.answerRequest(rid, payload).catch((err: unknown) => {
      this.o.logger.error({ err, rid }, 'voice request failed')
    }).finally(() => { this.inFlight-- })
  }

  private async answerRequest (rid: string, payload: Buffer): Promise<void> {
    let req: { utterance?: unknown; from?: unknown; lang?: unknown }
    try {
      req = JSON.parse(payload.toString('utf8')) as typeof req
      if (typeof req !== 'object' || req === null || typeof req.utterance !== 'string') throw new Error('expected a JSON object with a string "utterance"')
      if (req.from !== undefined && typeof req.from !== 'string') throw new Error('"from" must be a device id')
      if (req.lang !== undefined && !(LANGS as readonly unknown[]).includes(req.lang)) throw new Error(`"lang" must be one of ${LANGS.join(', ')}`)
    } catch (err) {
      const message = (err as Error).message
      this.o.logger.warn({ rid, error: message }, 'bad voice request')
      const bad: VoiceAnswer = { rid, utterance: '', lang: 'en', intent: 'None', confidence: 0, slots: {}, outcome: 'notUnderstood', error: 'badRequest', speech: `Bad request: ${message}`, results: [] }
      await this.publishAnswer(rid, bad)
      return
    }
    const answer = await this.ask(req.utterance, { from: req.from, lang: req.lang as Lang | undefined, rid })
    await this.publishAnswer(rid, answer)
  }

  private async publishAnswer (rid: string, answer: VoiceAnswer): Promise<void> {
    await this.o.client.publishAsync(this.o.topics.voiceAnswer(rid), JSON.stringify(answer), { qos: 1 })
  }

  /** Understand and carry out one utterance; resolves with the answer (after the speaker spoke it). */
  async ask (utterance: string, options: AskOptions = {}): Promise<VoiceAnswer> {
    const { home, recognizer, logger } = this.o
    const parsed = recognizer.parse(utterance, options.lang === undefined ? {} : { lang: options.lang })
    const from = options.from === undefined ? undefined : home.get(options.from)
    const base = {
      ...(options.rid === undefined ? {} : { rid: options.rid }),
      utterance, lang: parsed.lang, intent: parsed.intent, confidence: parsed.confidence, slots: parsed.slots,
      ...(options.from === undefined ? {} : { from: options.from })
    }
    const lang = parsed.lang
    let answer: VoiceAnswer
    if (parsed.intent === 'None') {
      answer = { ...base, outcome: 'notUnderstood', error: 'notUnderstood', speech: notUnderstoodSpeech(lang), results: [] }
    } else if (parsed.intent === 'SetAlarm' && parsed.slots.time === undefined) {
      answer = { ...base, outcome: 'reprompt', speech: missingSlotSpeech(lang, 'time'), results: [] }
    } else if (parsed.intent === 'SetVolume' && parsed.slots.level === undefined) {
      answer = { ...base, outcome: 'reprompt', speech: missingSlotSpeech(lang, 'level'), results: [] }
    } else {
      const r = resolveTargets(parsed.intent, parsed.slots, home, from)
      if (r.type === 'notFound') {
        answer = { ...base, outcome: 'failed', error: 'notFound', speech: notFoundSpeech(lang, r), results: [] }
      } else if (r.type === 'ambiguous') {
        answer = {
          ...base, outcome: 'reprompt', error: 'ambiguous', speech: ambiguousSpeech(lang, r.candidates), results: [],
          candidates: r.candidates.map((d) => ({ deviceId: d.id, name: d.name, room: d.room }))
        }
      } else {
        const timeoutMs = options.timeoutMs ?? this.o.commandTimeoutMs
        const results = await Promise.all(r.devices.map((d) => this.carryOut(parsed.intent, parsed.slots, d, timeoutMs)))
        const ok = results.filter((x) => x.ok).length
        answer = { ...base, outcome: ok === results.length ? 'done' : ok > 0 ? 'partial' : 'failed', speech: resultsSpeech(parsed.intent, results, parsed.slots, lang), results }
      }
    }
    if (from !== undefined) answer.spoken = await this.speak(from, answer.speech)
    logger.info({ utterance, intent: answer.intent, outcome: answer.outcome, from: options.from, devices: answer.results.length }, 'voice request')
    return answer
  }

  /** One device's part: from what it already told us, or by a command. */
  private async carryOut (intent: IntentName, slots: Slots, d: KnownDevice, timeoutMs: number): Promise<DeviceResult> {
    const base = { deviceId: d.id, name: d.name, kind: d.kind, room: d.room }
    if (INFO_INTENTS.has(intent)) return { ...base, ok: true, result: { firmware: d.firmware ?? null } }
    const action = actionFor(intent, d)
    if (action === undefined || !supports(intent, d)) return { ...base, ok: false, error: 'notSupported' }
    if (!d.online) return { ...base, command: action.command, ok: false, error: 'offline' }
    // Louder than loud: say so instead of sending a change the speaker would clamp to nothing.
    const volume = d.reported.volume
    if (intent === 'ChangeVolume' && typeof volume === 'number') {
      if (volume >= 100 && (slots.delta ?? 0) > 0) return { ...base, ok: false, error: 'alreadyAtMax', result: { volume } }
      if (volume <= 0 && (slots.delta ?? 0) < 0) return { ...base, ok: false, error: 'alreadyAtMin', result: { volume } }
    }
    // A query the latest reported state already answers needs no round trip.
    if (intent === 'GetBattery' && typeof d.reported.battery === 'number') {
      return { ...base, ok: true, result: { battery: d.reported.battery, charging: d.reported.charging ?? null, from: 'reported' } }
    }
    const sent = await this.send(d, action.command, action.args(slots), timeoutMs)
    // No track matching what was asked: play anyway, and say what is playing.
    if (intent === 'MediaPlay' && !sent.ok && sent.replyCode === 'INVALID_VALUE' && slots.media !== undefined) {
      const again = await this.send(d, action.command, {}, timeoutMs)
      return { ...base, ...again, ...(again.ok ? { message: `no track matching "${slots.media}"` } : {}) }
    }
    return { ...base, ...sent }
  }

  private async send (d: KnownDevice, command: string, args: Record<string, unknown>, timeoutMs: number): Promise<Omit<DeviceResult, 'deviceId' | 'name' | 'kind' | 'room'>> {
    try {
      const reply = await this.o.commander.send(d.id, command, args, timeoutMs)
      if (reply.ok) return { command, ok: true, result: reply.result }
      return { command, ok: false, error: fromReplyCode(reply.error.code), replyCode: reply.error.code, message: reply.error.message }
    } catch (err) {
      if (isFleetError(err) && err.code === 'FLEET_ERR_COMMAND_TIMEOUT') return { command, ok: false, error: 'timeout', message: err.message }
      return { command, ok: false, error: 'internal', message: (err as Error).message }
    }
  }

  /** The speaker that heard the request says the answer (its `say` command: a `spoke` event shows the dialogue). */
  private async speak (from: KnownDevice, text: string): Promise<boolean> {
    if (!from.online || !from.commands.has('say')) return false
    try {
      const reply = await this.o.commander.send(from.id, 'say', { text: text.slice(0, SAY_MAX) }, this.o.commandTimeoutMs)
      return reply.ok
    } catch {
      return false
    }
  }
}
