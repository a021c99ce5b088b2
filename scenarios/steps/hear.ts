/**
 * The `hear:` step: a speaker hears an utterance and the voice bridge carries it out, as a person talking to a
 * Cortana speaker would. The step passes when the answer is what `expect:` says (intent, language, outcome, a pattern
 * of the spoken text, each device's result); the state that follows is checked by an ordinary check step.
 *
 * ```yaml
 * - at: 2s
 *   hear: "Cortana, set the kitchen speaker to 30"
 *   from: demo-living-room-speaker
 *   expect: { intent: SetVolume, devices: { demo-kitchen-speaker: ok }, text: "kitchen speaker" }
 * ```
 */
import type { Bridge } from '../../bridge/bridge.ts'
import type { VoiceAnswer } from '../../bridge/voice/service.ts'
import { formatDuration } from '../../core/duration.ts'
import type { StepReport } from '../report.ts'
import { DEFAULTS, type HearStep, type ParsedHearStep } from '../schema.ts'

/** The loaded step, from the parsed one. */
export function hearStep (p: ParsedHearStep, base: { index: number; line: number | undefined; atMs: number }): HearStep {
  const expect: HearStep['expect'] = {}
  const e = p.expect
  if (e?.intent !== undefined) expect.intent = e.intent
  if (e?.lang !== undefined) expect.lang = e.lang
  if (e?.outcome !== undefined) expect.outcome = e.outcome
  if (e?.text !== undefined) expect.text = e.text
  if (e?.devices !== undefined) expect.devices = e.devices as NonNullable<HearStep['expect']['devices']>
  return { ...base, kind: 'hear', utterance: p.hear, from: p.from, lang: p.lang, expect, timeoutMs: p.timeout ?? DEFAULTS.commandTimeoutMs }
}

/** `hear "turn off the kitchen" (from demo-office-speaker) → TurnOff`. */
export function describeHear (step: HearStep): string {
  const e = step.expect
  const want = [e.intent, e.outcome !== undefined && e.outcome !== 'done' ? e.outcome : undefined].filter((x) => x !== undefined).join(', ')
  return `hear ${JSON.stringify(step.utterance)}${step.from === undefined ? '' : ` (from ${step.from})`}${want === '' ? '' : ` → ${want}`}`
}

/** What is wrong with an answer, against the step's expectation (empty: nothing). */
export function hearMismatches (step: HearStep, a: VoiceAnswer): string[] {
  const e = step.expect
  const out: string[] = []
  if (e.intent !== undefined && a.intent !== e.intent) out.push(`intent ${a.intent}, expected ${e.intent}`)
  if (e.lang !== undefined && a.lang !== e.lang) out.push(`language ${a.lang}, expected ${e.lang}`)
  const outcome = e.outcome ?? 'done'
  if (a.outcome !== outcome) out.push(`outcome ${a.outcome}${a.error === undefined ? '' : ` (${a.error})`}, expected ${outcome}`)
  if (e.text !== undefined && !new RegExp(e.text, 'i').test(a.speech)) out.push(`the answer does not match /${e.text}/i`)
  for (const [id, want] of Object.entries(e.devices ?? {})) {
    const r = a.results.find((x) => x.deviceId === id)
    const got = r === undefined ? 'not addressed' : r.ok ? 'ok' : (r.error ?? 'failed')
    if (got !== want) out.push(`${id}: ${got}, expected ${want}`)
  }
  return out
}

/** Run the step through the run's bridge and fill in its report. */
export async function runHear (step: HearStep, bridge: Bridge | undefined, r: StepReport): Promise<void> {
  if (bridge === undefined) throw new Error('no voice bridge in this run')
  const answer = await bridge.voice.ask(step.utterance, { from: step.from, lang: step.lang, timeoutMs: step.timeoutMs })
  r.devices = answer.results.length
  const wrong = hearMismatches(step, answer)
  r.status = wrong.length === 0 ? 'passed' : 'failed'
  const heard = `${answer.intent} ${answer.outcome}: "${answer.speech}"`
  r.detail = wrong.length === 0 ? heard : `${wrong.join('; ')} (${heard}; timeout ${formatDuration(step.timeoutMs)})`
}
