/**
 * `fleet run --data-dir`: a scenario run hosts the rollout service on its broker and clock, and its devices carry
 * the update agent, so a client deploys firmware to the running fleet over MQTT while the timeline plays.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { RolloutClient } from '../../bridge/rollout/client.ts'
import type { DeploymentStatus } from '../../bridge/rollout/engine.ts'
import { RolloutStore } from '../../bridge/rollout/store.ts'
import { loadScenarioText, runScenario } from '../../scenarios/index.ts'
import { Teardown } from '../helpers/teardown.ts'
import { sampleTexts, within } from './mqtt-helpers.ts'

const teardown = new Teardown()
afterEach(async () => { await teardown.run() })

it('deploys to the devices of a running scenario, whose rollout state lands in the data directory', async () => {
  const dataDir = teardown.add(mkdtempSync(join(tmpdir(), 'homefleet-run-')), (d) => { rmSync(d, { recursive: true, force: true }) })
  const scenario = loadScenarioText([
    'name: rollout host',
    'speed: 30',
    'duration: 10m',
    'fleet:',
    '  groups:',
    '    - { kind: speaker, count: 5, idPrefix: spk, room: kitchen }',
    'timeline:',
    '  - at: 0s',
    '    note: start'
  ].join('\n'), 'rollout-host.yaml')
  const stop = new AbortController()
  let url: string | undefined
  const online = new Promise<void>((resolve) => {
    void runScenario(scenario, {
      port: 0, dataDir, signal: stop.signal,
      onProgress: (e) => { if (e.type === 'broker') url = e.url; if (e.type === 'online') resolve() }
    }).then((report) => { finished = report.result })
  })
  let finished: string | undefined
  teardown.add(stop, (s) => { s.abort() })
  await within(online, 30_000, 'the fleet online')
  const client = teardown.add(await RolloutClient.connect({ target: { url: url as string } }), (c) => c.close())
  await client.request('import', { manifests: sampleTexts() })
  await client.request('deploy', { id: 'run-1', update: 'Xiaomi/speaker-l09a/1.5.0' })
  let done: (s: DeploymentStatus) => void = () => undefined
  const completed = new Promise<DeploymentStatus>((resolve) => { done = resolve })
  const unwatch = await client.watchDeployment('run-1', (s) => { if (s.phase === 'completed') done(s) })
  const s = await within(completed, 30_000, 'the deployment completed')
  await unwatch()
  expect(s.counts.Succeeded).toBeGreaterThanOrEqual(5) // every compatible speaker of the run
  expect(s.counts.Succeeded).toBe(s.waves[0]?.size)
  stop.abort()
  await within((async () => { while (finished === undefined) await new Promise((r) => setTimeout(r, 20)) })(), 30_000, 'the run to end')
  expect(finished).toBe('aborted')
  const store = RolloutStore.open(dataDir)
  try {
    expect(store.loadDeployments().map((d) => [d.spec.id, d.phase])).toEqual([['run-1', 'completed']])
  } finally { store.close() }
})
