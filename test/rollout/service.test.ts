/**
 * The rollout service over real MQTT (embedded broker on port 0, a ScaledClock): the request/reply API, offers as
 * desired-twin writes, real downloads with sha256 checks, retained live status, and each deployment concept end to
 * end — waves and gates, rate limit, abort, timeout, retry, rollback, supersede, late joiners, pause/resume/cancel,
 * and durability across a restart of the service. Devices here are stand-ins answering by script; the real update
 * agent and its injected faults are tested in update-agent.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { FleetError } from '../../core/errors.ts'
import type { DeploymentStatus } from '../../bridge/rollout/engine.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { sampleTexts, startWorld, within } from './mqtt-helpers.ts'

const NEW = 'Xiaomi/speaker-l09a/1.5.0'
const OLD = 'Xiaomi/speaker-l09a/1.4.2'
const teardown = new Teardown()
afterEach(async () => { await teardown.run() })

const completed = (s: DeploymentStatus): boolean => s.phase === 'completed'

async function worldWithUpdates (speed = 60): Promise<Awaited<ReturnType<typeof startWorld>>> {
  const w = await startWorld(teardown, { speed })
  const r = await w.client.request<{ imported: string[] }>('import', { manifests: sampleTexts() })
  expect(r.imported).toContain(NEW)
  return w
}

describe('the API over MQTT', () => {
  it('imports, refuses a bad manifest with every issue, deploys, and answers status', async () => {
    const w = await startWorld(teardown)
    const bad = JSON.stringify({ updateId: { provider: 'X', name: 'y', version: '1' }, manifestVersion: '5.0' })
    const err = await w.client.request('import', { manifests: [{ file: 'bad.json', text: bad }] }).catch((e: unknown) => e) as FleetError
    expect(err).toBeInstanceOf(FleetError)
    expect(err.code).toBe('FLEET_ERR_MANIFEST_INVALID')
    expect(err.exitCode).toBe(2)
    expect(err.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['$.updateId.version', '$.compatibility', '$.instructions', '$.createdDateTime']))
    const ok = await w.client.request<{ imported: string[]; unchanged: string[] }>('import', { manifests: sampleTexts() })
    expect(ok.imported).toHaveLength(6)
    const again = await w.client.request<{ imported: string[]; unchanged: string[] }>('import', { manifests: sampleTexts() })
    expect(again).toEqual({ imported: [], unchanged: expect.arrayContaining([NEW]) as unknown })
    const missing = await w.client.request('deploy', { update: 'Xiaomi/speaker-l09a/9.0' }).catch((e: unknown) => e) as FleetError
    expect(missing.code).toBe('FLEET_ERR_ROLLOUT_NOT_FOUND')
    const overview = await w.client.request<{ updates: unknown[] }>('status')
    expect(overview.updates).toHaveLength(6)
  })

  it('answers a request that is not JSON with an error reply and keeps serving', async () => {
    const w = await startWorld(teardown)
    const raw = teardown.client(await connectClient(w.url))
    await raw.subscribeAsync(w.client.topics.rolloutReply('x1'))
    const reply = new Promise<Buffer>((resolve) => { raw.on('message', (_t, p) => { resolve(p) }) })
    await raw.publishAsync(w.client.topics.rolloutCommand('status', 'x1'), 'not json')
    const r = JSON.parse((await within(reply, 5000, 'the error reply')).toString()) as { ok: boolean; error: { code: string } }
    expect(r).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } })
    await expect(w.client.request('status')).resolves.toBeDefined()
    expect(w.service.stats.badPayloads).toBe(1)
  })
})

describe('deployments over MQTT', () => {
  it('waves: offers go out as desired twins, devices download and hash the files, waves open after soak', async () => {
    const w = await worldWithUpdates()
    const devices = await w.addDevices(10)
    await w.client.request('deploy', { id: 'waves', update: NEW, waves: [{ percent: 20, soak: '2m', successThreshold: 100 }, { percent: 100 }] })
    const s = await w.waitStatus('waves', completed, 'completed')
    expect(s.waves.map((x) => x.size)).toEqual([2, 8])
    expect(s.counts.Succeeded).toBe(10)
    // The second wave opened no sooner than the soak after the first wave's threshold (clock time).
    expect((s.waves[1]?.openedAt as number) - (s.waves[0]?.thresholdMetAt as number)).toBeGreaterThanOrEqual(120_000)
    expect(devices.every((d) => d.installed === NEW)).toBe(true)
    expect(devices.every((d) => d.offers[0]?.fileUrls !== undefined && Object.values(d.offers[0].fileUrls).every((u) => u.startsWith('mqtt:')))).toBe(true)
    const group = await within(new Promise<Record<string, unknown>>((resolve) => {
      void connectClient(w.url).then(async (c) => {
        teardown.client(c)
        c.on('message', (_t, p) => { resolve(JSON.parse(p.toString()) as Record<string, unknown>) })
        await c.subscribeAsync(w.client.topics.rolloutGroup(encodeURIComponent('$default')))
      })
    }), 5000, 'the retained group status')
    expect(group).toMatchObject({ groupId: '$default', devices: 10 })
  })

  it('gates: a wave above its error threshold halts the deployment', async () => {
    const w = await worldWithUpdates()
    await w.addDevices(10, { script: 'fail' })
    await w.client.request('deploy', { id: 'halt', update: NEW, waves: [{ percent: 30, successThreshold: 90, errorThreshold: 10 }, { percent: 100 }] })
    const s = await w.waitStatus('halt', (x) => x.phase === 'halted', 'halted')
    expect(s.state).toBe('Failed')
    expect(s.halt?.wave).toBe(1)
    expect(s.waves[1]?.openedAt).toBeUndefined()
  })

  it('rate limit: no more offers per clock minute than the rate', async () => {
    const w = await worldWithUpdates(120)
    await w.addDevices(6)
    await w.client.request('deploy', { id: 'rate', update: NEW, rateLimit: { perMinute: 2 } })
    await w.waitStatus('rate', completed, 'completed')
    // Windows of one clock minute from the deployment's creation: two offers in each.
    const offered = w.service.engine.deviceRecords('rate').map((r) => r.offeredAt as number).sort((a, b) => a - b)
    const createdAt = w.service.engine.get('rate')?.createdAt as number
    expect(offered[1]! - createdAt).toBeLessThan(60_000)
    expect(offered[2]! - createdAt).toBeGreaterThanOrEqual(60_000)
    expect(offered[4]! - createdAt).toBeGreaterThanOrEqual(120_000)
  })

  it('abort: failures past the criterion abort and cancel the rest', async () => {
    const w = await worldWithUpdates()
    await w.addDevices(4, { script: 'fail' })
    await w.addDevices(6, { script: 'hang' })
    await w.client.request('deploy', { id: 'abort', update: NEW, abort: [{ failureType: 'FAILED', thresholdPercent: 35, minExecuted: 10 }] })
    const s = await w.waitStatus('abort', (x) => x.phase === 'aborted', 'aborted')
    expect(s.halt?.reason).toMatch(/abort criterion FAILED met: 4 of 10/)
    expect(s.counts).toMatchObject({ Failed: 4, Canceled: 6 })
    // The hanging devices were told to cancel (workflow action 255) on their desired twin.
    await within((async () => { while (!w.devices.slice(4).every((d) => d.offers.some((o) => o.workflow.action === 255))) await new Promise((r) => setTimeout(r, 20)) })(), 5000, 'cancel actions')
  })

  it('timeout and retry: a silent device times out, is retried with a newer retryTimestamp, then succeeds', async () => {
    const w = await worldWithUpdates()
    const [d] = await w.addDevices(1, { script: (attempt) => (attempt === 1 ? 'hang' : 'succeed') })
    await w.client.request('deploy', { id: 'retry', update: NEW, inProgressTimeout: '5m', retries: 1 })
    const s = await w.waitStatus('retry', completed, 'completed')
    expect(s.counts.Succeeded).toBe(1)
    const processed = d!.offers.filter((o) => o.workflow.action === 3)
    expect(processed).toHaveLength(2)
    expect(processed[0]?.workflow.retryTimestamp).toBeUndefined()
    expect(processed[1]?.workflow).toMatchObject({ id: 'retry', retryTimestamp: expect.any(String) as unknown })
    expect(w.service.engine.deviceRecords('retry')[0]).toMatchObject({ attempts: 2, state: 'Succeeded' })
  })

  it('timeout without retries: TimedOut, and the device is told to cancel', async () => {
    const w = await worldWithUpdates()
    const [d] = await w.addDevices(1, { script: 'hang' })
    await w.client.request('deploy', { id: 'to', update: NEW, inProgressTimeout: '2m' })
    const s = await w.waitStatus('to', (x) => x.counts.TimedOut === 1, 'a timed-out device')
    expect(s.state).toBe('ActiveWithSubgroupFailures')
    await within((async () => { while (!d!.offers.some((o) => o.workflow.action === 255)) await new Promise((r) => setTimeout(r, 20)) })(), 5000, 'the cancel action')
  })

  it('rollback: failures past the policy deploy the rollback update to the whole group', async () => {
    const w = await worldWithUpdates()
    await w.addDevices(3, { script: 'succeed' })
    await w.addDevices(3, { script: (n) => (n === 1 ? 'fail' : 'succeed') })
    await w.client.request('deploy', { id: 'rb', update: NEW, rateLimit: { perMinute: 3 }, rollback: { update: OLD, failedPercent: 30, failedCount: 2 } })
    const s = await w.waitStatus('rb', (x) => x.phase === 'rolledBack', 'rolled back')
    expect(s).toMatchObject({ state: 'Failed', rolledBackBy: 'rb-rollback' })
    const rb = await w.waitStatus('rb-rollback', completed, 'the rollback completed')
    expect(rb.rollbackOf).toBe('rb')
    // A device that finished installing 1.5.0 just as the rollback began reports it late and joins the rollback.
    await within((async () => { while (!w.devices.every((d) => d.installed === OLD)) await new Promise((r) => setTimeout(r, 20)) })(), 10_000, 'every device back on 1.4.2')
  })

  it('supersede and late joiners: a new deployment makes the old Inactive; a device joining later gets the active one', async () => {
    const w = await worldWithUpdates()
    await w.addDevices(3, { group: 'lab', script: 'hang' })
    await w.client.request('deploy', { id: 'old', group: 'lab', update: NEW })
    await w.waitStatus('old', (x) => x.counts.InProgress === 3, 'three in progress')
    for (const d of w.devices) d.script = 'succeed'
    await w.client.request('deploy', { id: 'new', group: 'lab', update: NEW })
    const old = await w.waitStatus('old', (x) => x.state === 'Inactive', 'inactive')
    expect(old).toMatchObject({ phase: 'superseded', supersededBy: 'new', counts: { Canceled: 3 } })
    await w.waitStatus('new', completed, 'completed')
    const [late] = await w.addDevices(1, { group: 'lab', idPrefix: 'late' })
    const s = await w.waitStatus('new', (x) => x.counts.Succeeded === 4, 'the late joiner succeeded')
    expect(s.phase).toBe('completed')
    expect(late!.installed).toBe(NEW)
  })

  it('pause, resume, cancel: a cancelled deployment cannot be reactivated', async () => {
    const w = await worldWithUpdates(120)
    await w.addDevices(6)
    await w.client.request('deploy', { id: 'prc', update: NEW, rateLimit: { perMinute: 2 } })
    const paused = await w.client.request<DeploymentStatus>('pause', { id: 'prc' })
    expect(paused.phase).toBe('paused')
    const resumed = await w.client.request<DeploymentStatus>('resume', { id: 'prc' })
    expect(resumed.phase).toBe('running')
    const cancelled = await w.client.request<DeploymentStatus>('cancel', { id: 'prc' })
    expect(cancelled).toMatchObject({ state: 'Canceled', phase: 'canceled' })
    const err = await w.client.request('resume', { id: 'prc' }).catch((e: unknown) => e) as FleetError
    expect(err.code).toBe('FLEET_ERR_ROLLOUT_CONFLICT')
    expect(err.message).toMatch(/cannot be reactivated/)
  })

  it('durability: after a restart of the service an active deployment resumes and no device is offered twice', async () => {
    const w = await worldWithUpdates(60)
    const devices = await w.addDevices(8)
    await w.client.request('deploy', { id: 'dur', update: NEW, rateLimit: { perMinute: 4 } })
    await w.waitStatus('dur', (x) => x.counts.Succeeded === 4, 'the first four succeeded')
    await w.restartService()
    const s = await w.waitStatus('dur', completed, 'completed after the restart')
    expect(s.counts.Succeeded).toBe(8)
    for (const d of devices) expect(d.offers.filter((o) => o.workflow.action === 3), d.id).toHaveLength(1)
  })
})

describe('live status topics', () => {
  it('coalesces a group\'s compliance to its interval, but publishes it at once when the deployment\'s phase changes', async () => {
    // An hour between compliance updates: only the at-once rule can bring the group topic up to date in this test.
    const w = await startWorld(teardown, { speed: 60, service: { complianceIntervalMs: 3_600_000 } })
    await w.client.request('import', { manifests: sampleTexts() })
    await w.addDevices(4)
    await w.client.request('deploy', { id: 'live', update: NEW })
    await w.waitStatus('live', completed, 'completed')
    const watcher = teardown.client(await connectClient(w.url))
    const group = new Promise<Record<string, unknown>>((resolve) => {
      watcher.on('message', (_t, p) => {
        const g = JSON.parse(p.toString()) as { deployment?: { phase?: string } }
        if (g.deployment?.phase === 'completed') resolve(g)
      })
    })
    await watcher.subscribeAsync(w.client.topics.rolloutGroup(encodeURIComponent('$default')))
    expect(await within(group, 10_000, 'the group topic showing the completed deployment')).toMatchObject({ devices: 4, onLatestUpdate: 4, updateInProgress: 0 })
    expect(w.service.stats.sentBy.status).toBeGreaterThan(0)
  })
})
