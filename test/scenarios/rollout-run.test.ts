/**
 * Running rollout steps: the runner starts the rollout service on its own (a temporary data directory, or
 * `dataDir`), the steps talk to it over MQTT, the agent's faults come from the scenario, and the conditions read the
 * service's published deployment status and the devices' reported twins. A failed expectation fails the run, as a
 * real process, with a line saying what was expected and what is.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../core/clock.ts'
import { silentLogger } from '../../core/logger.ts'
import { RolloutStore } from '../../bridge/rollout/store.ts'
import { formatReport, loadScenarioText, runScenario } from '../../scenarios/index.ts'
import { runRollouts } from '../../scenarios/rollout.ts'
import { FLEET_BIN, REPO_ROOT } from '../cli/helpers.ts'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })
function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'homefleet-rollout-run-'))
  dirs.push(d)
  return d
}

const STEPS = `name: rollout steps
seed: 2
speed: 20
duration: 1s
fleet:
  demoHome: false
  groups: [ { kind: speaker, count: 6, idPrefix: spk, room: kitchen, tags: { ADUGroup: kitchen } } ]
  telemetryInterval: 1m
rollout:
  updates: [ { generate: Xiaomi/speaker-l09a/2.1.0, size: 64KiB } ]
  agent: { installTime: 2s, rebootTime: 1s }
  faults: [ { fault: installFailure, target: { device: spk-0002 } } ]
timeline:
  - { at: 0s, deploy: { id: k, group: kitchen, update: Xiaomi/speaker-l09a/2.1.0, inProgressTimeout: 5m } }
  - at: 0s
    expect: { deployment: { id: k, phase: completed, state: ActiveWithSubgroupFailures, counts: { Succeeded: 5, Failed: 1 }, failureRate: ≥ 16.67% } }
    within: 20s
  - { at: 0s, rollout: resume, deployment: k, expect: FLEET_ERR_ROLLOUT_CONFLICT }
  - { at: 0s, rollout: restart }
  - { at: 0s, rollout: retry, deployment: k }
  - at: 0s
    expect:
      deployment: { id: k, phase: completed, counts: { Succeeded: 5, Failed: 1, InProgress: 0 } }
      offers:
        - { deployment: k, target: { device: spk-0002 }, min: 2, max: 2 }
        - { deployment: k, target: { device: [spk-0001, spk-0003, spk-0004, spk-0005, spk-0006] }, min: 1, max: 1 }
    within: 20s
expect:
  firmware:
    - { target: { device: spk-0002 }, version: 1.4.2, agentState: failed }
    - { target: { device: [spk-0001, spk-0003, spk-0004, spk-0005, spk-0006] }, version: 2.1.0, agentState: idle }
`

describe('running rollout steps', () => {
  it('deploys with the scenario\'s faults, steers the deployment, restarts the service, and leaves its state in the data directory', async () => {
    const dataDir = tempDir()
    const report = await runScenario(loadScenarioText(STEPS, 'steps.yaml'), { dataDir })
    const text = formatReport(report)
    expect(report.steps.filter((s) => s.status !== 'passed').map((s) => `line ${s.line}: ${s.detail ?? ''}`), text).toEqual([])
    expect(report.result, text).toBe('passed')
    // Every message the devices sent was seen, their update agents' requests for files included.
    expect(report.observer?.missed, text).toBe(0)
    expect(report.steps[2]?.detail).toMatch(/^FLEET_ERR_ROLLOUT_CONFLICT: cannot resume deployment k/)
    expect(report.steps[3]?.detail).toMatch(/stopped and started again on the data directory .*: 1 deployment\(s\) loaded, 0 live, 6 devices heard/)
    const store = RolloutStore.open(dataDir)
    try {
      expect(store.loadDeployments().map((d) => [d.spec.id, d.phase])).toEqual([['k', 'completed']])
      const records = new Map(store.loadRecords('k').map((r) => [r.deviceId, r]))
      expect(records.get('spk-0002')).toMatchObject({ state: 'Failed', attempts: 2, extendedResultCode: 0x42000030 })
      expect(records.get('spk-0001')).toMatchObject({ state: 'Succeeded', attempts: 1 })
    } finally { store.close() }
  }, 90_000)

  it('gives a scenario with rollout steps a temporary data directory of its own, removed when the run ends', async () => {
    const rollouts = runRollouts({ prefix: 'home', clock: systemClock, logger: silentLogger, specs: [] })
    expect(existsSync(join(rollouts.dataDir))).toBe(true)
    expect(rollouts.dataDir.startsWith(tmpdir())).toBe(true)
    await rollouts.stop()
    expect(existsSync(rollouts.dataDir)).toBe(false)
    const given = tempDir()
    const kept = runRollouts({ dataDir: given, prefix: 'home', clock: systemClock, logger: silentLogger, specs: [] })
    await kept.stop()
    expect(existsSync(given)).toBe(true)
  })

  it('a failed expectation fails `fleet run` (exit 1) with a line saying what was expected and what the service and devices report', async () => {
    const dir = tempDir()
    const file = join(dir, 'wrong.yaml')
    writeFileSync(file, `name: wrong expectations
speed: 20
duration: 1s
fleet:
  demoHome: false
  groups: [ { kind: speaker, count: 3, idPrefix: spk, tags: { ADUGroup: g } } ]
  telemetryInterval: 1m
rollout:
  updates: [ { generate: Xiaomi/speaker-l09a/2.1.0, size: 64KiB } ]
  agent: { installTime: 1s, rebootTime: 1s }
timeline:
  - { at: 0s, deploy: { id: k, group: g, update: Xiaomi/speaker-l09a/2.1.0 } }
  - { at: 0s, expect: { deployment: { id: k, phase: completed } }, within: 20s }
  - { at: 0s, expect: { deployment: { id: k, phase: halted, halt: { wave: 1 }, counts: { Succeeded: "< 3" } } } }
expect:
  firmware: { target: { kind: speaker }, version: 9.9.9 }
`)
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, [FLEET_BIN, 'run', file, '--quiet'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
      let out = ''
      proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
      const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`fleet run ${file} did not exit within 90 s; stdout so far:\n${out}`)) }, 90_000)
      proc.on('close', (c) => { clearTimeout(timer); resolve({ code: c, stdout: out }) })
    })
    expect(code, stdout).toBe(1)
    expect(stdout).toMatch(/✓ +0s +line 13 +check deployment k: completed/)
    expect(stdout).toContain('✗     0s  line 14  check deployment k: halted in wave 1, Succeeded < 3 — deployment k: phase is completed, expected halted in wave 1; Succeeded is 3, expected < 3 (Active (completed), wave 1 of 1, 3 Succeeded)')
    expect(stdout).toContain('✗ line 16  firmware of every speaker: 9.9.9 — 3 of 3 speakers not on 9.9.9 (3 on 2.1.0): spk-0001 (on 2.1.0), spk-0002 (on 2.1.0), spk-0003 (on 2.1.0)')
    expect(stdout).toMatch(/\nFAILED — 3 of 3 steps run, 1 failed; 1 of 3 expectations passed/)
  }, 120_000)
})
