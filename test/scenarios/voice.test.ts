/** The `hear:` step: loading (with file:line errors), running through the voice bridge, and the built-in voice evening. */
import { describe, expect, it } from 'vitest'
import { FleetError, formatIssue } from '../../core/errors.ts'
import { builtinScenarioPath, formatReport, loadScenarioFile, loadScenarioText, runScenario } from '../../scenarios/index.ts'

function issues (text: string): string[] {
  try {
    loadScenarioText(text, 'voice.yaml')
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError)
    return (err as FleetError).issues.map(formatIssue)
  }
  throw new Error('expected the scenario to be invalid')
}

const HEAD = 'name: voice\nfleet:\n  demoHome: true\ntimeline:\n'

describe('hear: steps in a scenario file', () => {
  it('loads the utterance, the speaker that heard it and the expectations', () => {
    const s = loadScenarioText(`${HEAD}  - at: 1s\n    hear: turn off the kitchen\n    from: demo-office-speaker\n    expect: { intent: TurnOff, devices: { demo-kitchen-speaker: ok }, text: "turned off" }\n    timeout: 2s\n`, 'voice.yaml')
    expect(s.timeline[0]).toMatchObject({ kind: 'hear', utterance: 'turn off the kitchen', from: 'demo-office-speaker', timeoutMs: 2000, expect: { intent: 'TurnOff', devices: { 'demo-kitchen-speaker': 'ok' }, text: 'turned off' } })
  })

  it('names the file, line and field of a bad intent, error name, pattern or a say: step', () => {
    const lines = issues(`${HEAD}  - at: 1s\n    hear: louder\n    expect: { intent: Louder, devices: { demo-kitchen-speaker: broken }, text: "(" }\n  - at: 2s\n    say: hello\n`)
    expect(lines.some((l) => l.startsWith('voice.yaml:7:') && l.includes('timeline[0].expect.intent'))).toBe(true)
    expect(lines.some((l) => l.includes('timeline[0].expect.devices.demo-kitchen-speaker'))).toBe(true)
    expect(lines.some((l) => l.includes('timeline[0].expect.text: must be a valid regular expression'))).toBe(true)
    expect(lines.some((l) => l.startsWith('voice.yaml:9:') && l.includes('use hear:'))).toBe(true)
  })
})

describe('running hear: steps', () => {
  it('passes when the answer is as expected and fails, saying why, when it is not', async () => {
    const s = loadScenarioText(`${HEAD}  - at: 0s\n    hear: mets le volume de la cuisine à 150\n    expect: { outcome: failed, devices: { demo-kitchen-speaker: outOfRange } }\n  - at: 0s\n    hear: turn on the kitchen speaker\n    expect: { intent: TurnOff }\n`, 'voice.yaml')
    const report = await runScenario(s)
    expect(report.steps.map((st) => st.status)).toEqual(['passed', 'failed'])
    expect(report.steps[1]?.detail).toMatch(/^intent TurnOn, expected TurnOff/)
    expect(report.result).toBe('failed')
  }, 60_000)

  it('the built-in voice evening passes, in both languages', async () => {
    const report = await runScenario(await loadScenarioFile(builtinScenarioPath('voice-evening') as string))
    const failed = report.steps.filter((s) => s.status === 'failed').map((s) => `line ${s.line}: ${s.detail ?? ''}`)
    expect(failed).toEqual([])
    expect(report.result).toBe('passed')
    const heard = report.steps.filter((s) => s.kind === 'hear')
    expect(heard.length).toBeGreaterThanOrEqual(14)
    // Several devices are named in the order of their ids, whatever order the bridge learnt them in.
    expect(formatReport(report)).toMatch(/J'ai éteint la caméra du salon et l'enceinte du salon\./)
  }, 90_000)
})
