import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { testIo } from './helpers.ts'

describe('fleet voice parse', () => {
  it('prints the intent, slots with their words, and the template', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', 'Hey Cortana, turn the kitchen speaker down by 20'], io)).toBe(0)
    expect(io.out.text).toMatch(/^ChangeVolume {2}\(en, confidence 1\)/)
    expect(io.out.text).toContain('delta   -20  ← "20"')
    expect(io.out.text).toContain('device  "kitchen speaker"  ← "kitchen speaker"')
  })

  it('--json prints the contract fields, time as HH:MM', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', '--json', 'Dis Cortana, réveille-moi à 7 heures et quart'], io)).toBe(0)
    const p = JSON.parse(io.out.text) as Record<string, unknown>
    expect(p).toMatchObject({ intent: 'SetAlarm', lang: 'fr', slots: { time: '07:15' }, confidence: 1 })
  })

  it('--lang fr understands only French', async () => {
    const io = testIo()
    expect(await main(['voice', 'parse', '--json', '--lang', 'fr', 'turn off the kitchen'], io)).toBe(0)
    expect(JSON.parse(io.out.text)).toMatchObject({ intent: 'None', lang: 'fr' })
  })

  it('without an utterance reads stdin: one JSON line per utterance, in order, blank lines skipped', async () => {
    const io = { ...testIo(), stdin: Readable.from(['turn on the lights\n\nmute the kitchen\n', 'joue du jazz\n']) }
    expect(await main(['voice', 'parse'], io)).toBe(0)
    const lines = io.out.lines.map((l) => JSON.parse(l) as { intent: string; text: string })
    expect(lines.map((l) => [l.text, l.intent])).toEqual([['turn on the lights', 'None'], ['mute the kitchen', 'Mute'], ['joue du jazz', 'MediaPlay']])
  })

  it('an unknown action is bad usage (exit 2)', async () => {
    const io = testIo()
    expect(await main(['voice', 'hear', 'x'], io)).toBe(2)
    expect(io.err.text).toContain('unknown action "hear"')
  })
})
