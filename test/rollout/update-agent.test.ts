/**
 * The device update agent over real MQTT, driven by the real rollout service: real devices (speakers, a camera) with
 * the agent plugged in, the embedded broker on port 0, one ScaledClock for devices and service. The ADU twin shapes,
 * Download → Install → Apply with a reboot onto the new version, a bundle through detached manifests, UPDATING while
 * installing, cancel, and every injected fault with its extended result code.
 */
import { createHash } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { createBroker } from '../../broker/broker.ts'
import { ScaledClock } from '../../core/clock.ts'
import { createTopics } from '../../core/topics.ts'
import { afterEach, describe, expect, it } from 'vitest'
import { Commander } from '../../core/commander.ts'
import { ErcCode, ErcComponent, ErcFacility, makeExtendedResultCode, splitExtendedResultCode, type AgentReport } from '../../core/device-update.ts'
import type { FleetError } from '../../core/errors.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { createDevice, type Device, type DeviceRuntime } from '../../devices/index.ts'
import { updateAgent, type UpdateAgentOptions } from '../../devices/update-agent.ts'
import type { DeploymentStatus } from '../../bridge/rollout/engine.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { Teardown } from '../helpers/teardown.ts'
import { specFor } from '../devices/helpers.ts'
import { sampleTexts, startWorld, within, type World } from './mqtt-helpers.ts'

const NEW = 'Xiaomi/speaker-l09a/1.5.0'
const teardown = new Teardown()
afterEach(async () => { await teardown.run() })

async function setUp (agent: UpdateAgentOptions, n = 1, kind: 'speaker' | 'camera' = 'speaker'): Promise<{ w: World; devices: Device[]; watcher: MqttClient }> {
  const w = await startWorld(teardown, { speed: 60 })
  await w.client.request('import', { manifests: sampleTexts() })
  const runtime: DeviceRuntime = { target: { url: w.url }, topics: w.client.topics, clock: w.clock, random: new Random(11), logger: silentLogger, capabilities: [updateAgent(agent)] }
  const watcher = teardown.client(await connectClient(w.url))
  await watcher.subscribeAsync([w.client.topics.filter('reported'), w.client.topics.filter('status'), w.client.topics.filter('info')])
  const devices: Device[] = []
  for (let i = 0; i < n; i++) {
    const device = createDevice(specFor(kind, { id: `${kind}-${i}`, telemetryIntervalMs: 60_000 }), runtime)
    teardown.add(device, (d) => d.stop())
    await device.start()
    devices.push(device)
  }
  return { w, devices, watcher }
}

function agentOf (payload: Buffer): AgentReport {
  return (JSON.parse(payload.toString()) as { deviceUpdate: { agent: AgentReport } }).deviceUpdate.agent
}

const ended = (s: DeploymentStatus): boolean => s.phase !== 'running' || s.counts.InProgress + s.counts.Pending === 0

describe('the update agent', () => {
  it('reports the ADU agent shape, downloads with progress, installs, reboots onto the new version', async () => {
    // The file request is not repeated within the test (the default 5 s of device time is 83 ms at speed 60, which a
    // busy machine can take to answer): one request, one delivery.
    const { w, devices, watcher } = await setUp({ progressSteps: 4, fetchRetryMs: 600_000 })
    const seen: { topic: string; payload: string }[] = []
    watcher.on('message', (topic, payload) => { seen.push({ topic, payload: payload.toString() }) })
    await w.client.request('deploy', { id: 'ok', update: NEW })
    const s = await w.waitStatus('ok', (x) => x.counts.Succeeded === 1, 'the speaker succeeded')
    expect(s.phase).toBe('completed')
    expect(devices[0]!.firmware).toBe('1.5.0')
    const reported = seen.filter((m) => m.topic === w.client.topics.reported('speaker-0')).map((m) => agentOf(Buffer.from(m.payload)))
    const last = reported[reported.length - 1]!
    expect(last).toMatchObject({
      deviceProperties: { manufacturer: 'Xiaomi', model: 'xiaomi.speaker.l09a' },
      compatPropertyNames: 'manufacturer,model',
      state: 0,
      workflow: { action: 3, id: 'ok' },
      lastInstallResult: { resultCode: 700, extendedResultCode: 0 }
    })
    expect(JSON.parse(last.installedUpdateId as string)).toEqual({ provider: 'Xiaomi', name: 'speaker-l09a', version: '1.5.0' })
    expect(Object.keys(last.lastInstallResult?.stepResults ?? {})).toEqual(['step_0', 'step_1', 'step_2'])
    expect(last.lastInstallResult?.stepResults?.step_0).toMatchObject({ resultCode: 500 })
    expect(last.lastInstallResult?.stepResults?.step_1).toMatchObject({ resultCode: 600 })
    // In progress (state 6) with download progress on the way; then the reboot: offline, online, info on 1.5.0.
    expect(reported.some((a) => a.state === 6 && a.progress === 50)).toBe(true)
    const statuses = seen.filter((m) => m.topic === w.client.topics.status('speaker-0')).map((m) => m.payload)
    expect(statuses.slice(-2)).toEqual(['offline', 'online'])
    const infos = seen.filter((m) => m.topic === w.client.topics.info('speaker-0')).map((m) => JSON.parse(m.payload) as { firmware: string })
    expect(infos[infos.length - 1]?.firmware).toBe('1.5.0')
    expect(w.service.stats.deliveries).toBe(1)
  })

  it('installs a bundle: the parent\'s files, then each child through its detached manifest', async () => {
    const { w, devices } = await setUp({}, 1, 'camera')
    await w.client.request('deploy', { id: 'cam', update: 'Xiaomi/camera-c300/5.2.0' })
    await w.waitStatus('cam', (x) => x.counts.Succeeded === 1, 'the camera succeeded')
    expect(devices[0]!.firmware).toBe('5.2.0')
    // precheck.sh, two detached manifests, the firmware image and the vision model.
    expect(w.service.stats.deliveries).toBe(5)
  })

  it('answers commands UPDATING (503) while it installs', async () => {
    const { w } = await setUp({ installMs: 600_000 })
    await w.client.request('deploy', { id: 'busy', update: NEW })
    const commander = teardown.add(new Commander(teardown.client(await connectClient(w.url)), w.client.topics), (c) => c.close())
    // Wait until the download is done and the install has begun (progress cleared, state 6).
    await within((async () => {
      for (;;) {
        const reply = await commander.send('speaker-0', 'turnOn', {}).catch((e: unknown) => e)
        if ((reply as { ok?: boolean; status?: number }).status === 503) return reply
        await new Promise((r) => setTimeout(r, 20))
      }
    })(), 10_000, 'a 503 UPDATING reply')
    const cancelled = await w.client.request<DeploymentStatus>('cancel', { id: 'busy' })
    expect(cancelled.state).toBe('Canceled')
  })

  it('cancel: the device stops the work in progress and reports result −1', async () => {
    const { w, watcher } = await setUp({ installMs: 600_000 })
    await w.client.request('deploy', { id: 'cx', update: NEW })
    await w.waitStatus('cx', (x) => x.counts.InProgress === 1, 'in progress')
    const cancelledReport = new Promise<AgentReport>((resolve) => {
      watcher.on('message', (topic, payload) => {
        if (topic !== w.client.topics.reported('speaker-0')) return
        const a = agentOf(payload)
        if (a.lastInstallResult?.resultCode === -1) resolve(a)
      })
    })
    await w.client.request('cancel', { id: 'cx' })
    const a = await within(cancelledReport, 10_000, 'the agent reporting −1')
    expect(a.state).toBe(255)
    expect(JSON.parse(a.installedUpdateId as string)).toMatchObject({ version: '1.4.2' })
  })
})

describe('injected faults', () => {
  const ercOf = (w: World, id: string): { facility: number; component: number; code: number } =>
    splitExtendedResultCode(w.service.engine.deviceRecords(id)[0]?.extendedResultCode ?? 0)

  it.each([
    ['downloadTimeout', ErcFacility.Download, ErcComponent.Transfer, ErcCode.Timeout],
    ['hashMismatch', ErcFacility.Download, ErcComponent.Hash, ErcCode.HashMismatch],
    ['installFailure', ErcFacility.Install, ErcComponent.Handler, ErcCode.HandlerFailed],
    ['bootLoop', ErcFacility.Apply, ErcComponent.Reboot, ErcCode.BootLoop]
  ] as const)('%s fails the device with its extended result code', async (fault, facility, component, code) => {
    const { w, devices } = await setUp({ faults: [{ fault }], downloadTimeoutMs: 120_000 })
    await w.client.request('deploy', { id: fault, update: NEW })
    const s = await w.waitStatus(fault, (x) => x.counts.Failed === 1, `${fault}: the device failed`)
    expect(s.state).toBe('ActiveWithSubgroupFailures')
    expect(ercOf(w, fault)).toEqual({ facility, component, code })
    expect(w.service.engine.deviceRecords(fault)[0]).toMatchObject({ resultCode: 0, extendedResultCode: makeExtendedResultCode(facility, component, code) })
    // A boot loop rolls the device back by itself: it runs the old version again.
    expect(devices[0]!.firmware).toBe('1.4.2')
  })

  it('noReport: the device never reports back and the in-progress timeout catches it', async () => {
    const { w } = await setUp({ faults: [{ fault: 'noReport' }] })
    await w.client.request('deploy', { id: 'silent', update: NEW, inProgressTimeout: '3m' })
    const s = await w.waitStatus('silent', (x) => x.counts.TimedOut === 1, 'the silent device timed out')
    expect(s.counts.Succeeded).toBe(0)
  })

  it('faults apply to the selected devices only, with their probability', async () => {
    const { w, devices } = await setUp({ faults: [{ fault: 'installFailure', devices: ['speaker-1', 'speaker-3'] }, { fault: 'hashMismatch', probability: 0 }] }, 4)
    await w.client.request('deploy', { id: 'sel', update: NEW })
    const s = await w.waitStatus('sel', ended, 'every device answered')
    expect(s.counts).toMatchObject({ Succeeded: 2, Failed: 2 })
    const failed = w.service.engine.deviceRecords('sel').filter((r) => r.state === 'Failed').map((r) => r.deviceId).sort()
    expect(failed).toEqual(['speaker-1', 'speaker-3'])
    expect(devices.map((d) => d.firmware)).toEqual(['1.5.0', '1.4.2', '1.5.0', '1.4.2'])
  })

  it('refuses bad agent options with every problem', () => {
    const err = (() => { try { updateAgent({ bandwidth: 0, faults: [{ fault: 'meltdown' as never, probability: 2 }] }) } catch (e) { return e } return undefined })() as FleetError
    expect(err.code).toBe('FLEET_ERR_OPTIONS_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual(['bandwidth', 'faults[0].fault', 'faults[0].probability'])
  })

  it('asks for a file again when no answer comes (the rollout service was restarting), and installs once one does', async () => {
    const broker = teardown.add(await createBroker({ port: 0, host: '127.0.0.1' }), (b) => b.close())
    const url = broker.url as string
    const topics = createTopics('retry')
    const clock = new ScaledClock(60)
    const runtime: DeviceRuntime = { target: { url }, topics, clock, random: new Random(3), logger: silentLogger, capabilities: [updateAgent({ fetchRetryMs: 2000, downloadTimeoutMs: 60_000, installMs: 100, rebootMs: 100 })] }
    const device = createDevice(specFor('speaker', { id: 'spk', telemetryIntervalMs: 60_000 }), runtime)
    teardown.add(device, (d) => d.stop())
    await device.start()
    // A stand-in rollout service that misses the first request for the file (it was down) and answers the next.
    const service = teardown.client(await connectClient(url))
    await service.subscribeAsync([topics.filter('rolloutFetch'), topics.reported('spk')], { qos: 1 })
    const bytes = Buffer.from('firmware 2.1.0 for the l09a')
    const asked: string[] = []
    let installed: () => void = () => undefined
    const done = new Promise<void>((resolve) => { installed = resolve })
    service.on('message', (topic, payload) => {
      const t = topics.parse(topic)
      if (t?.channel === 'reported') { if (agentOf(payload).installedUpdateId?.includes('2.1.0') === true) installed(); return }
      if (t?.channel !== 'rolloutFetch') return
      asked.push(t.rid)
      if (asked.length > 1) service.publish(topics.build('rolloutDelivery', t.agentId, t.rid), bytes, { qos: 1 })
    })
    const manifest = {
      manifestVersion: '5.0',
      updateId: { provider: 'Xiaomi', name: 'speaker-l09a', version: '2.1.0' },
      compatibility: [{ manufacturer: 'Xiaomi', model: 'xiaomi.speaker.l09a' }],
      instructions: { steps: [{ type: 'inline', handler: 'microsoft/swupdate:2', files: ['f0'] }] },
      files: { f0: { fileName: 'l09a-2.1.0.swu', sizeInBytes: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('base64') } } },
      createdDateTime: '2026-01-01T00:00:00Z'
    }
    const offer = { workflow: { action: 3, id: 'd1' }, updateManifest: JSON.stringify(manifest), updateManifestSignature: '', fileUrls: { f0: 'mqtt:retry/$bridge/rollout/files/x/0' } }
    await service.publishAsync(topics.desired('spk'), JSON.stringify({ deviceUpdate: { service: offer } }), { qos: 1, retain: true })
    await within(done, 20_000, 'the speaker to report 2.1.0 installed')
    expect(device.firmware).toBe('2.1.0')
    expect(asked.length).toBeGreaterThanOrEqual(2)
    expect(new Set(asked).size).toBe(1) // the same request again, not a new one
  })
})
