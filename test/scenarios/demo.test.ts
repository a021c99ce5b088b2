import { describe, expect, it } from 'vitest'
import { builtinScenarioPath, formatReport, loadScenarioFile, runScenario } from '../../scenarios/index.ts'

describe('the built-in demo scenario (npm start)', () => {
  it('passes on the embedded broker', async () => {
    const scenario = await loadScenarioFile(builtinScenarioPath('demo') as string)
    const report = await runScenario(scenario)
    const failed = report.steps.filter((s) => s.status === 'failed').map((s) => `line ${s.line}: ${s.detail ?? ''}`)
    expect(failed).toEqual([])
    expect(report.finalChecks.filter((c) => c.status === 'failed')).toEqual([])
    expect(report.result).toBe('passed')
    expect(report.fleet.devices).toBeGreaterThanOrEqual(300)
    expect(report.steps.every((s) => s.status !== 'skipped')).toBe(true)
    expect(formatReport(report)).toMatch(/\nPASSED — /)
  }, 90_000)
})
