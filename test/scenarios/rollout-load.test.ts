/**
 * Rollout steps in a scenario file: import (manifest files, relative to the scenario, and generated updates),
 * deploy, the operator's verbs and restart, the `rollout:` section, and the deployment, firmware and offers
 * conditions, loaded and checked like every other step, with file:line:column, "did you mean" and exit 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { FleetError, formatIssue } from '../../core/errors.ts'
import { loadScenarioText } from '../../scenarios/index.ts'
import type { DeployStep, ImportStep, RolloutStep } from '../../scenarios/schema.ts'
import { testIo } from '../cli/helpers.ts'

const SAMPLES = new URL('../../docs/examples/updates/', import.meta.url).pathname
const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

/** A scenario file in a fresh directory (so manifest paths resolve against it), with the sample manifests beside it. */
function place (text: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'homefleet-rollout-load-'))
  dirs.push(dir)
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  const file = join(dir, 'rollout.yaml')
  writeFileSync(file, text)
  return file
}

function load (text: string, file = join(SAMPLES, 'scenario.yaml')): ReturnType<typeof loadScenarioText> {
  return loadScenarioText(text, file)
}

/** Every problem, as `file:line:column: path: message`, with the file's directory left out. */
function issues (text: string): string[] {
  try {
    load(text)
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError)
    return (err as FleetError).issues.map((i) => formatIssue({ ...i, file: 'r.yaml' }))
  }
  throw new Error('expected the scenario to be invalid')
}

const HEAD = `name: rollout
fleet:
  demoHome: false
  groups: [ { kind: speaker, count: 4, idPrefix: spk, room: kitchen, tags: { ADUGroup: kitchen } } ]
`

describe('rollout steps: loading', () => {
  it('reads every field: manifest files next to the scenario, a generated update, a full deployment, verbs, conditions', () => {
    const s = load(`${HEAD}rollout:
  updates:
    - speaker-l09a-1.4.2.importmanifest.json
    - { generate: Xiaomi/speaker-l09a/2.1.0, size: 64KiB }
  agent: { bandwidth: 1MiB, installTime: 2s, rebootTime: 1s, downloadTimeout: 30s, progressSteps: 2 }
  faults:
    - { fault: installFailure, target: { device: spk-0002 }, probability: 0.5 }
timeline:
  - at: 0s
    import: { file: speaker-l09a-1.5.0.importmanifest.json }
  - at: 1s
    deploy:
      id: k-2.1.0
      group: kitchen
      update: Xiaomi/speaker-l09a/2.1.0
      startAt: +5s
      targetCondition: tags.room = 'kitchen'
      waves: [ { percent: 25, soak: 1m, successThreshold: 90, errorThreshold: 5 }, { percent: 100 } ]
      rateLimit: { baseRate: 10, factor: 2, notified: 5, maxPerMinute: 100 }
      abort: [ { failureType: TIMED_OUT, thresholdPercent: 50, minExecuted: 2 } ]
      inProgressTimeout: 2m
      retries: 2
      rollback: { update: Xiaomi/speaker-l09a/1.4.2, failedPercent: 10, failedCount: 1 }
  - { at: 2s, rollout: pause, deployment: k-2.1.0 }
  - { at: 3s, rollout: resume, deployment: k-2.1.0, expect: FLEET_ERR_ROLLOUT_CONFLICT }
  - { at: 4s, rollout: restart, down: 2s }
  - at: 5s
    expect:
      deployment: { id: k-2.1.0, state: Failed, rolledBack: true, halt: { wave: 2, failureRate: ≥ 5%, reason: threshold }, counts: { Succeeded: ">= 3", TimedOut: 0 } }
      firmware: { target: { kind: speaker }, version: 1.4.2, agentState: idle }
      offers: { deployment: k-2.1.0-rollback, max: 1 }
    within: 10s
`)
    expect(s.usesRollouts).toBe(true)
    expect(s.rollout?.updates.map((u) => [u.update, u.generated])).toEqual([['Xiaomi/speaker-l09a/1.4.2', false], ['Xiaomi/speaker-l09a/2.1.0', true]])
    expect(JSON.parse(s.rollout?.updates[1]?.text ?? '')).toMatchObject({ compatibility: [{ manufacturer: 'Xiaomi', model: 'xiaomi.speaker.l09a' }], files: [{ sizeInBytes: 65536 }] })
    expect(s.rollout?.agent).toEqual({ bandwidth: 1048576, installMs: 2000, rebootMs: 1000, downloadTimeoutMs: 30000, progressSteps: 2 })
    expect(s.rollout?.faults).toMatchObject([{ fault: 'installFailure', target: { device: ['spk-0002'] }, probability: 0.5 }])
    expect((s.timeline[0] as ImportStep).updates.map((u) => u.update)).toEqual(['Xiaomi/speaker-l09a/1.5.0'])
    expect((s.timeline[1] as DeployStep).deployment).toEqual({
      id: 'k-2.1.0', group: 'kitchen', update: 'Xiaomi/speaker-l09a/2.1.0', startAt: '+5s', targetCondition: "tags.room = 'kitchen'",
      waves: [{ percent: 25, soak: 60000, successThreshold: 90, errorThreshold: 5 }, { percent: 100 }],
      rateLimit: { baseRate: 10, factor: 2, notified: 5, maxPerMinute: 100 },
      abort: [{ failureType: 'TIMED_OUT', thresholdPercent: 50, minExecuted: 2 }],
      inProgressTimeout: 120000, retries: 2, rollback: { update: 'Xiaomi/speaker-l09a/1.4.2', failedPercent: 10, failedCount: 1 }
    })
    expect(s.timeline.slice(2, 5).map((st) => { const r = st as RolloutStep; return [r.action, r.deployment, r.downMs, r.expect] })).toEqual([
      ['pause', 'k-2.1.0', 0, 'ok'], ['resume', 'k-2.1.0', 0, 'FLEET_ERR_ROLLOUT_CONFLICT'], ['restart', undefined, 2000, 'ok']
    ])
    const check = s.timeline[5]
    expect(check?.kind === 'check' ? check.conditions : []).toMatchObject([
      { type: 'deployment', id: 'k-2.1.0', state: 'Failed', rolledBack: true, halt: { wave: 2, failureRate: { op: '>=', value: 5 }, reason: 'threshold' }, counts: { Succeeded: { op: '>=', value: 3 }, TimedOut: { op: '=', value: 0 } } },
      { type: 'firmware', version: '1.4.2', agentState: 'idle' },
      { type: 'offers', deployment: 'k-2.1.0-rollback', min: 0, max: 1 }
    ])
  })

  it('a scenario with only a deployment condition still runs the service; one with none of them does not', () => {
    expect(load(`${HEAD}timeline:\n  - { at: 0s, note: hi }\n`).usesRollouts).toBe(false)
    expect(load(`${HEAD}timeline:\n  - { at: 0s, expect: { firmware: { target: { all: true }, version: 1.4.2 } } }\n`).usesRollouts).toBe(false)
    expect(load(`${HEAD}rollout:\n  agent: { installTime: 1s }\n`).usesRollouts).toBe(true)
  })

  it('names the file, line, column and field of each mistake in a rollout step or condition, with "did you mean"', () => {
    const lines = issues(`${HEAD}rollout:
  faults:
    - { fault: bootloop, target: { device: spk-0001 } }
  updates:
    - { generate: Xiaomi/speaker-l09a/2.1.0, size: 64 bytes }
timeline:
  - at: 0s
    deploy: { id: k1, update: Xiaomi/speaker-l09a/2.1.O, wavs: [ { percent: 10 } ] }
  - at: 0s
    deploy: { id: k2, update: Xiaomi/speaker-l09a/2.2.0, targetCondition: "tags.room = ", rollback: { update: Xiaomi/speaker-l09a/1.4.2 } }
  - { at: 1s, rollout: pasue, deployment: k1 }
  - { at: 1s, rollout: restart, deployment: k2 }
  - { at: 1s, rollout: cancel }
  - { at: 1s, rollout: retry, deployment: k2, expect: CONFLICT }
  - at: 2s
    expect:
      deployment: { id: k2, phase: halt, failureRate: about 5, counts: { Succeded: 1 } }
      offers: { deployment: k2, min: 2, max: 1 }
`)
    expect(lines).toEqual([
      'r.yaml:7:16: rollout.faults[0].fault: must be one of downloadTimeout, hashMismatch, installFailure, noReport, bootLoop, got "bootloop" (did you mean "bootLoop"?)',
      'r.yaml:9:52: rollout.updates[0].size: must be a size in bytes: a whole number or 512B, 64KiB, 1.5MB, 2MiB; got "64 bytes"',
      'r.yaml:12:31: timeline[0].deploy.update: must be provider/name/version, such as Xiaomi/speaker-l09a/2.1.0',
      'r.yaml:12:58: timeline[0].deploy.wavs: unknown key "wavs" (did you mean "waves"?); allowed here: id, group, update, startAt, targetCondition, waves, rateLimit, abort, inProgressTimeout, retries, rollback',
      'r.yaml:14:31: timeline[1].deploy.update: Xiaomi/speaker-l09a/2.2.0 is not imported by this scenario; import it in rollout.updates or an import step (none is)',
      'r.yaml:14:75: timeline[1].deploy.targetCondition: target condition: expected a value at column 13: tags.room = ',
      'r.yaml:14:111: timeline[1].deploy.rollback.update: Xiaomi/speaker-l09a/1.4.2 is not imported by this scenario; import it in rollout.updates or an import step (none is)',
      'r.yaml:15:24: timeline[2].rollout: must be one of pause, resume, cancel, retry, restart, got "pasue" (did you mean "pause"?)',
      'r.yaml:16:45: timeline[3].deployment: restart stops and starts the whole rollout service: it takes no deployment',
      'r.yaml:17:5: timeline[4].deployment: cancel needs the deployment\'s id: deployment: <id>',
      'r.yaml:18:55: timeline[5].expect: must be ok or the error the rollout service answers (FLEET_ERR_MANIFEST_INVALID, FLEET_ERR_ROLLOUT_INVALID, FLEET_ERR_ROLLOUT_NOT_FOUND, FLEET_ERR_ROLLOUT_CONFLICT); got "CONFLICT" (did you mean "FLEET_ERR_ROLLOUT_CONFLICT"?)',
      'r.yaml:21:36: timeline[6].expect.deployment.phase: must be one of scheduled, running, paused, halted, aborted, completed, rolledBack, superseded, canceled, got "halt" (did you mean "halted"?)',
      'r.yaml:21:55: timeline[6].expect.deployment.failureRate: must be a number or a comparison such as "≥ 5%", ">= 5", "< 10" or 4 (exactly), got "about 5"',
      'r.yaml:21:74: timeline[6].expect.deployment.counts.Succeded: unknown key "Succeded" (did you mean "Succeeded"?); allowed here: Pending, InProgress, Succeeded, Failed, TimedOut, Canceled',
      'r.yaml:22:38: timeline[6].expect.offers.min: min 2 is above max 1'
    ])
  })

  it('checks what needs the whole file: fault targets, generated models, manifest files, imported updates, deployment ids and times', () => {
    const lines = issues(`${HEAD}rollout:
  faults:
    - { fault: bootLoop, target: { device: spk-0009 } }
  updates:
    - { generate: Xiaomi/toaster-x1/2.1.0, size: 64KiB }
    - missing.importmanifest.json
    - { generate: Xiaomi/speaker-l09a/2.1.0, size: 64KiB }
timeline:
  - { at: 0s, deploy: { id: k1, update: Xiaomi/speaker-l09a/2.1.1 } }
  - { at: 0s, deploy: { id: k1, update: Xiaomi/speaker-l09a/2.1.0 } }
  - { at: 1s, import: { generate: Xiaomi/speaker-l09a/3.0.0, size: 1KiB } }
  - { at: 0s, deploy: { id: k3, update: Xiaomi/speaker-l09a/3.0.0 } }
  - { at: 1s, rollout: pause, deployment: k2 }
  - { at: 2s, deploy: { id: late, update: Xiaomi/speaker-l09a/2.1.0 } }
  - { at: 1s, rollout: pause, deployment: late }
  - at: 3s
    expect: { offers: { deployment: k1-rolback, max: 1 } }
`)
    expect(lines).toEqual([
      'r.yaml:7:34: rollout.faults[0].target: selects none of the fleet\'s 4 devices (device "spk-0009": did you mean "spk-0001"?)',
      'r.yaml:9:19: rollout.updates[0].generate: no device of the fleet has a model whose update name is toaster-x1 (xiaomi.speaker.l09a → speaker-l09a); give model: to say which devices it is for',
      'r.yaml:10:7: rollout.updates[1]: cannot read the manifest ' + SAMPLES + 'missing.importmanifest.json: no such file (a path is relative to the scenario file)',
      'r.yaml:13:41: timeline[0].deploy.update: Xiaomi/speaker-l09a/2.1.1 is not imported by this scenario (did you mean "Xiaomi/speaker-l09a/2.1.0"?); import it in rollout.updates or an import step (imported: Xiaomi/toaster-x1/2.1.0, Xiaomi/speaker-l09a/2.1.0, Xiaomi/speaker-l09a/3.0.0)',
      'r.yaml:14:29: timeline[1].deploy.id: deployment k1 is already deployed at line 13; give each deployment its own id',
      'r.yaml:16:41: timeline[3].deploy.update: Xiaomi/speaker-l09a/3.0.0 is imported at 1s, after this deployment at 0s',
      'r.yaml:17:43: timeline[4].deployment: no deploy step in this scenario creates deployment k2 (did you mean "k1"?) (deployments: k1, k3, late)',
      'r.yaml:19:43: timeline[6].deployment: deployment late is deployed at 2s (line 18), after this step at 1s',
      'r.yaml:21:37: timeline[7].expect.offers.deployment: no deploy step in this scenario creates deployment k1-rolback (deployments: k1, k3, late)'
    ])
  })

  it('a manifest file with a broken rule is reported at the scenario line, with the manifest\'s own file:line and rule', () => {
    const file = place(`${HEAD}rollout:\n  updates: [ bad.importmanifest.json ]\n`, {
      'bad.importmanifest.json': JSON.stringify({ updateId: { provider: 'Xiaomi', name: 'speaker-l09a', version: '2' }, compatibility: [{ manufacturer: 'Xiaomi', model: 'xiaomi.speaker.l09a' }], instructions: { steps: [{ handler: 'microsoft/swupdate:2', files: ['f.swu'] }] }, files: [{ filename: 'f.swu', sizeInBytes: 10, hashes: { sha256: 'KtQKUg7OmO0ocPqSP7ehOf49OUGm0HGloVLrRM8xUTo=' } }], createdDateTime: '2026-01-01T00:00:00Z', manifestVersion: '5.0' }, null, 2)
    })
    let err: FleetError | undefined
    try { loadScenarioText(`${HEAD}rollout:\n  updates: [ bad.importmanifest.json ]\n`, file) } catch (e) { err = e as FleetError }
    const lines = (err?.issues ?? []).map(formatIssue)
    expect(lines, lines.join('\n')).toHaveLength(1)
    expect(lines.some((l) => l.startsWith(`${file}:6:14: rollout.updates[0]: manifest bad.importmanifest.json:5:5: $.updateId.version: [pattern `))).toBe(true)
  })

  it('fleet run exits 2 on such a file, with every problem on stderr and nothing started', async () => {
    const file = place(`${HEAD}timeline:\n  - { at: 0s, rollout: pasue, deployment: k1 }\n`)
    const io = testIo()
    expect(await main(['run', file, '--quiet'], io)).toBe(2)
    expect(io.err.text).toBe(`FLEET_ERR_SCENARIO_INVALID: ${file}: 1 problem\n  ${file}:6:24: timeline[0].rollout: must be one of pause, resume, cancel, retry, restart, got "pasue" (did you mean "pause"?)\n`)
    expect(io.out.text).toBe('')
  })
})
