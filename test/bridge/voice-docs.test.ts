import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { VOICE_ERRORS } from '../../bridge/voice/errors.ts'
import { INTENTS } from '../../bridge/voice/intents.ts'

const doc = readFileSync(new URL('../../docs/voice.md', import.meta.url), 'utf8')

describe('docs/voice.md', () => {
  it('maps every error of the vocabulary to Alexa and Google exactly as bridge/voice/errors.ts does', () => {
    for (const [code, e] of Object.entries(VOICE_ERRORS)) {
      expect(doc).toContain(`| \`${code}\` | ${e.meaning} | ${e.alexa} | ${e.google} |`)
    }
  })

  it('names every intent', () => {
    for (const intent of INTENTS) expect(doc).toContain(`\`${intent}\``)
  })
})
