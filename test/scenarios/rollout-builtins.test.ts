/**
 * The built-in rollout scenarios, each as a real process (`fleet run <name>`), as a user or CI runs them: exit 0, and
 * the JSON report shows what each one is about (waves, a rollback, restarts without a second offer, a timeout).
 */
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import type { ScenarioReport } from '../../scenarios/index.ts'
import { BUILTIN_SCENARIO_SUMMARIES } from '../../cli/commands.ts'
import { BUILTIN_SCENARIOS } from '../../scenarios/builtin/index.ts'
import { FLEET_BIN, REPO_ROOT } from '../cli/helpers.ts'

/** Bound on one process: start-up, the run (well under a minute at its speed) and tear-down, on a busy machine. */
const PROCESS_TIMEOUT_MS = 150_000

function fleetRun (name: string): Promise<{ code: number | null; report: ScenarioReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [FLEET_BIN, 'run', name, '--json', '--quiet'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`fleet run ${name} did not exit within ${PROCESS_TIMEOUT_MS} ms; stderr:\n${stderr}`)) }, PROCESS_TIMEOUT_MS)
    proc.on('close', (code) => {
      clearTimeout(timer)
      try { resolve({ code, report: JSON.parse(stdout) as ScenarioReport, stderr }) } catch { reject(new Error(`fleet run ${name} (exit ${code}) printed no JSON report:\n${stdout}\n${stderr}`)) }
    })
  })
}

/** What went wrong, readable in a failed assertion. */
function problems (r: ScenarioReport): string[] {
  return [
    ...r.steps.filter((s) => s.status !== 'passed' && s.status !== 'done').map((s) => `line ${s.line}: ${s.status}: ${s.detail ?? ''}`),
    ...r.finalChecks.filter((c) => c.status !== 'passed').map((c) => `line ${c.line}: ${c.status}: ${c.detail}`)
  ]
}

describe('the built-in rollout scenarios, as `fleet run <name>`', () => {
  it('are listed with the other built-ins, and in fleet run --help', () => {
    expect(BUILTIN_SCENARIOS.filter((n) => n.startsWith('rollout-'))).toEqual(['rollout-staged', 'rollout-canary', 'rollout-restart', 'rollout-bricked'])
    expect(Object.keys(BUILTIN_SCENARIO_SUMMARIES)).toEqual([...BUILTIN_SCENARIOS])
  })

  it('rollout-staged: three waves to the kitchen speakers, paused and resumed; all of them on 2.1.0, the others untouched', async () => {
    const { code, report } = await fleetRun('rollout-staged')
    expect(problems(report)).toEqual([])
    expect(code).toBe(0)
    expect(report.steps.map((s) => s.kind)).toEqual(['deploy', 'check', 'rollout', 'check', 'note', 'rollout', 'check'])
    expect(report.steps.at(-1)?.detail).toMatch(/Active \(completed\), wave 3 of 3, 12 Succeeded/)
    expect(report.finalChecks.map((c) => c.detail)).toEqual([
      'all 12 speakers on 2.1.0, agent idle',
      'all 12 speakers on 1.4.2',
      '12 speakers offered kitchen-2.1.0 once each',
      '12 speakers offered kitchen-2.1.0 never'
    ])
  }, PROCESS_TIMEOUT_MS)

  it('rollout-canary: halts in wave 2 on its error threshold and rolls the group back to 1.4.2', async () => {
    const { code, report } = await fleetRun('rollout-canary')
    expect(problems(report)).toEqual([])
    expect(code).toBe(0)
    const halted = report.steps.find((s) => s.description.includes('rolled back'))
    expect(halted?.detail).toMatch(/Failed \(rolledBack\), wave 2 of 3, 6 Succeeded, 2 Failed; halted in wave 2: wave 2 error threshold exceeded/)
    expect(report.steps.find((s) => s.description.includes('canary-2.1.0-rollback'))?.detail).toMatch(/Active \(completed\), wave 1 of 1, 6 Succeeded/)
    expect(report.finalChecks[0]?.detail).toBe('all 20 speakers on 1.4.2')
  }, PROCESS_TIMEOUT_MS)

  it('rollout-restart: resumes after each restart of the service, and no speaker is offered the update twice', async () => {
    const { code, report } = await fleetRun('rollout-restart')
    expect(problems(report)).toEqual([])
    expect(code).toBe(0)
    const restarts = report.steps.filter((s) => s.kind === 'rollout')
    expect(restarts).toHaveLength(2)
    for (const r of restarts) expect(r.detail).toMatch(/stopped and started again on its data directory .*: 1 deployment\(s\) loaded, 1 live, 24 devices heard/)
    expect(report.finalChecks.map((c) => c.detail)).toEqual(['all 24 speakers on 2.1.0, agent idle', '24 speakers offered living-2.1.0 once each'])
  }, PROCESS_TIMEOUT_MS)

  it('rollout-bricked: the silent camera is caught by the in-progress timeout, retried once, and counted TimedOut', async () => {
    const { code, report } = await fleetRun('rollout-bricked')
    expect(problems(report)).toEqual([])
    expect(code).toBe(0)
    expect(report.steps.at(-1)?.detail).toMatch(/ActiveWithSubgroupFailures \(completed\), wave 1 of 1, 11 Succeeded, 1 TimedOut/)
    expect(report.finalChecks.map((c) => c.detail)).toEqual([
      'all 11 cameras on 5.3.0, agent idle',
      'door-cam-0001 on 5.1.3, agent inProgress',
      '11 cameras offered cams-5.3.0 once each',
      '1 camera offered cams-5.3.0 2 times'
    ])
  }, PROCESS_TIMEOUT_MS)
})
