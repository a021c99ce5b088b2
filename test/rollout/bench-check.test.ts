/**
 * The rollout benchmark's end check (bench/rollout-check.ts): on a small real fleet (update agents, the rollout
 * service, the embedded broker), a bricked device that takes the work and never reports again is named as left in
 * between, and a clean end names none. The benchmark's figures themselves are measured by `npm run bench:rollout`,
 * not here.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { AgentState } from '../../core/device-update.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { createDevice, type Device, type DeviceRuntime } from '../../devices/index.ts'
import { updateAgent, type UpdateFaultSpec } from '../../devices/update-agent.ts'
import { agentView, findInBetween, type AgentView } from '../../bench/rollout-check.ts'
import { Teardown } from '../helpers/teardown.ts'
import { specFor } from '../devices/helpers.ts'
import { sampleTexts, startWorld, type World } from './mqtt-helpers.ts'

const NEW = 'Xiaomi/speaker-l09a/1.5.0'
const teardown = new Teardown()
afterEach(async () => { await teardown.run() })

async function fleet (n: number, faults: UpdateFaultSpec[]): Promise<{ w: World; devices: Device[] }> {
  const w = await startWorld(teardown, { speed: 60 })
  await w.client.request('import', { manifests: sampleTexts() })
  const runtime: DeviceRuntime = { target: { url: w.url }, topics: w.client.topics, clock: w.clock, random: new Random(3), logger: silentLogger, capabilities: [updateAgent({ faults })] }
  const devices: Device[] = []
  for (let i = 0; i < n; i++) {
    const device = createDevice(specFor('speaker', { id: `speaker-${i}`, telemetryIntervalMs: 60_000 }), runtime)
    teardown.add(device, (d) => d.stop())
    await device.start()
    devices.push(device)
  }
  return { w, devices }
}

function check (w: World, devices: Device[], deploymentId: string): ReturnType<typeof findInBetween> {
  const controller = new Map(w.service.engine.deviceRecords(deploymentId).map((r) => [r.deviceId, r.state]))
  const agents = new Map<string, AgentView>(devices.map((d) => [d.id, agentView(d)]))
  return findInBetween(devices.map((d) => d.id), controller, agents, NEW)
}

describe('the rollout benchmark\'s in-between check', () => {
  it('names a bricked device that never reports back, and only it', async () => {
    const { w, devices } = await fleet(4, [{ fault: 'noReport', devices: ['speaker-2'] }])
    // No in-progress timeout: nothing on the service's side ends the bricked device's work.
    await w.client.request('deploy', { id: 'brick', update: NEW })
    await w.waitStatus('brick', (s) => s.counts.Succeeded === 3 && s.counts.InProgress === 1, '3 succeeded and 1 in progress')
    const stuck = check(w, devices, 'brick')
    expect(stuck.map((b) => b.deviceId)).toEqual(['speaker-2'])
    expect(stuck[0]).toMatchObject({ controller: 'InProgress', agentState: AgentState.DeploymentInProgress })
    expect(stuck[0]?.why).toMatch(/InProgress/)
  })

  it('names none when every device ended, and names a device whose agent contradicts the service', async () => {
    const { w, devices } = await fleet(3, [])
    await w.client.request('deploy', { id: 'clean', update: NEW })
    await w.waitStatus('clean', (s) => s.phase === 'completed', 'completed')
    expect(check(w, devices, 'clean')).toEqual([])
    // The same end, but the service's records say Succeeded for a device whose agent still runs the old version.
    const controller = new Map(w.service.engine.deviceRecords('clean').map((r) => [r.deviceId, r.state]))
    const agents = new Map<string, AgentView>(devices.map((d) => [d.id, agentView(d)]))
    agents.set('speaker-1', { state: AgentState.Idle, installed: 'Xiaomi/speaker-l09a/1.4.2' })
    const bad = findInBetween(devices.map((d) => d.id), controller, agents, NEW)
    expect(bad.map((b) => b.deviceId)).toEqual(['speaker-1'])
    // A device the deployment never reached is named too.
    expect(findInBetween([...devices.map((d) => d.id), 'speaker-9'], controller, new Map([...agents, ['speaker-9', { state: 0, installed: undefined }]]), NEW).map((b) => b.deviceId)).toEqual(['speaker-1', 'speaker-9'])
  })
})
