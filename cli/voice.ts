/**
 * `fleet voice parse`: the recognizer on the command line, against the demo home. One utterance as an argument, or
 * one per line from stdin (batch: JSON lines, in order).
 */
import { createInterface } from 'node:readline'
import { createRecognizer, type Recognizer, type VoiceParse } from '../bridge/voice/index.ts'
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
  const recognizer = demoHomeRecognizer()
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

/** The human form: intent, language and confidence, one line per slot with the words it came from. */
export function formatParse (p: VoiceParse): string {
  const lines = [`${p.intent}  (${p.lang}, confidence ${p.confidence})`]
  for (const [slot, value] of Object.entries(p.slots)) {
    const from = p.spans.filter((s) => s.slot === slot).map((s) => JSON.stringify(s.text)).join(', ')
    lines.push(`  ${slot.padEnd(7)} ${JSON.stringify(value)}${from === '' ? '' : `  ← ${from}`}`)
  }
  lines.push(`  why     ${p.explanation}`)
  return `${lines.join('\n')}\n`
}
