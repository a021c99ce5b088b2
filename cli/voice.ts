/**
 * `fleet voice parse | say`: the recognizer and the voice bridge on the command line. `parse` understands against
 * the demo home (or a running fleet's devices with --broker); `say` carries the utterance out on a running fleet
 * through an in-process {@link Bridge} that does not serve requests (so it needs no `fleet bridge` running).
 */
import { createInterface } from 'node:readline'
import { Bridge } from '../bridge/bridge.ts'
import { createRecognizer, type Recognizer, type VoiceParse } from '../bridge/voice/index.ts'
import type { VoiceAnswer } from '../bridge/voice/service.ts'
import { planHome } from '../devices/home.ts'
import { VOICE_ACTIONS, type CommandContext, type VoiceValues } from './commands.ts'
import { UsageError } from './options.ts'

/** The demo home's device names (its rooms are core/rooms.ts's), as the recognizer sees them. */
export function demoHomeRecognizer (): Recognizer {
  return createRecognizer({ devices: planHome({ home: 'demo' }) })
}

export async function runVoiceCommand (ctx: CommandContext<VoiceValues>): Promise<number> {
  const [action, utterance] = ctx.positionals
  if (!(VOICE_ACTIONS as readonly string[]).includes(action ?? '')) {
    throw new UsageError('voice', `unknown action ${JSON.stringify(action)}: expected one of ${VOICE_ACTIONS.join(', ')}`)
  }
  if (action === 'say') return runSay(ctx, utterance)
  const o = ctx.options
  if (o.broker === undefined) return runParse(ctx, demoHomeRecognizer(), utterance)
  const bridge = await Bridge.start({ target: { url: o.broker }, prefix: o.prefix, serve: false, connectTimeoutMs: o.connectTimeout })
  try {
    return await runParse(ctx, bridge.voice.recognizer, utterance)
  } finally {
    await bridge.stop()
  }
}

async function runParse (ctx: CommandContext<VoiceValues>, recognizer: Recognizer, utterance: string | undefined): Promise<number> {
  const options = ctx.options.lang === undefined ? {} : { lang: ctx.options.lang }
  if (utterance !== undefined) {
    const parsed = recognizer.parse(utterance, options)
    ctx.io.stdout.write(ctx.options.json ? `${JSON.stringify(parsed)}\n` : formatParse(parsed))
    return 0
  }
  const input = ctx.io.stdin
  if (input === undefined) return 0
  const lines = createInterface({ input, crlfDelay: Infinity })
  const stop = (): void => { lines.close() }
  ctx.signal.addEventListener('abort', stop, { once: true })
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue
      ctx.io.stdout.write(`${JSON.stringify(recognizer.parse(line, options))}\n`)
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop)
  }
  return 0
}

async function runSay (ctx: CommandContext<VoiceValues>, utterance: string | undefined): Promise<number> {
  if (utterance === undefined) throw new UsageError('voice', 'say needs an utterance: fleet voice say "turn off the kitchen"')
  const o = ctx.options
  const bridge = await Bridge.start({ target: { url: o.broker ?? 'mqtt://127.0.0.1:1883' }, prefix: o.prefix, serve: false, commandTimeoutMs: o.timeout, connectTimeoutMs: o.connectTimeout })
  try {
    const answer = await bridge.voice.ask(utterance, { from: o.from, lang: o.lang })
    ctx.io.stdout.write(o.json ? `${JSON.stringify(answer)}\n` : formatAnswer(answer))
    return answer.outcome === 'done' || answer.outcome === 'partial' ? 0 : 1
  } finally {
    await bridge.stop()
  }
}

/** The human form of a parse: intent, language and confidence, one line per slot with the words it came from. */
export function formatParse (p: VoiceParse): string {
  const lines = [`${p.intent}  (${p.lang}, confidence ${p.confidence})`]
  for (const [slot, value] of Object.entries(p.slots)) {
    const from = p.spans.filter((s) => s.slot === slot).map((s) => JSON.stringify(s.text)).join(', ')
    lines.push(`  ${slot.padEnd(7)} ${JSON.stringify(value)}${from === '' ? '' : `  ← ${from}`}`)
  }
  lines.push(`  why     ${p.explanation}`)
  return `${lines.join('\n')}\n`
}

/** The human form of an answer: what Cortana says, then one line per device. */
export function formatAnswer (a: VoiceAnswer): string {
  const lines = [`${a.speech}`, `  ${a.intent} (${a.lang}) → ${a.outcome}${a.error === undefined ? '' : ` (${a.error})`}${a.spoken === true ? `, spoken by ${a.from ?? ''}` : ''}`]
  for (const r of a.results) {
    const detail = r.ok ? 'ok' : `${r.error ?? 'failed'}${r.replyCode === undefined ? '' : ` (${r.replyCode})`}`
    lines.push(`  ${r.ok ? '✓' : '✗'} ${r.deviceId}${r.command === undefined ? '' : ` ${r.command}`}: ${detail}`)
  }
  for (const c of a.candidates ?? []) lines.push(`  ? ${c.deviceId} (${c.name}, ${c.room})`)
  return `${lines.join('\n')}\n`
}
