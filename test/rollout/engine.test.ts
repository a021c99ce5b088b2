/**
 * The deployment engine, concept by concept, on virtual time (no sockets): waves and their gates, rate limits,
 * abort criteria, timeouts, retries, rollback, supersede, late joiners, pause/resume/cancel/retry, targeting,
 * compliance and durability across a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ErcCode, ErcComponent, ErcFacility, makeExtendedResultCode } from '../../core/device-update.ts'
import { FleetError } from '../../core/errors.ts'
import { RolloutStore } from '../../bridge/rollout/store.ts'
import { importSamples, NEW, OLD, World } from './engine-helpers.ts'

const MIN = 60_000

describe('waves and gates', () => {
  it('opens waves as percentages of the remaining devices, each after its success threshold and soak time', async () => {
    const w = await World.create()
    w.addDevices(100)
    w.engine.start()
    const d = w.engine.deploy({ id: 'd1', update: NEW, waves: [{ percent: 10, soak: '10m', successThreshold: 90 }, { percent: 50, soak: '5m', successThreshold: 90 }, { percent: 100 }] })
    expect(w.port.offersTo('d1')).toHaveLength(10)
    expect(w.engine.status('d1').currentWave).toBe(0)
    // 8 of 10 succeed: below 90%, the next wave stays closed.
    const first = w.inProgress('d1')
    for (const id of first.slice(0, 8)) w.succeed(id)
    w.clock.advance(30 * MIN)
    expect(w.engine.status('d1').currentWave).toBe(0)
    w.succeed(first[8] as string)
    // 90% reached: the soak runs 10 minutes before the next wave.
    w.clock.advance(10 * MIN - 1)
    expect(w.engine.status('d1').currentWave).toBe(0)
    w.clock.advance(1)
    const s = w.engine.status('d1')
    expect(s.currentWave).toBe(1)
    expect(s.waves[1]?.size).toBe(45) // 50% of the 90 remaining
    expect(w.port.offersTo('d1')).toHaveLength(55)
    w.succeedAll('d1')
    w.succeed(first[9] as string)
    w.clock.advance(5 * MIN)
    expect(w.engine.status('d1').waves[2]?.size).toBe(45)
    w.succeedAll('d1')
    const done = w.engine.status('d1')
    expect(done.phase).toBe('completed')
    expect(done.state).toBe('Active')
    expect(done.counts.Succeeded).toBe(100)
    expect(d.spec.waves).toHaveLength(3)
  })

  it('halts when a wave exceeds its error threshold, naming the wave and the rate', async () => {
    const w = await World.create()
    w.addDevices(200)
    w.engine.start()
    w.engine.deploy({ id: 'canary', update: NEW, waves: [{ percent: 10, successThreshold: 90, errorThreshold: 5 }, { percent: 100 }] })
    const wave1 = w.inProgress('canary')
    expect(wave1).toHaveLength(20)
    w.fail(wave1[0] as string)
    expect(w.engine.status('canary').phase).toBe('running') // 1/20 = 5%: not above 5%
    w.fail(wave1[1] as string)
    const s = w.engine.status('canary')
    expect(s.phase).toBe('halted')
    expect(s.state).toBe('Failed')
    expect(s.halt?.wave).toBe(1)
    expect(s.halt?.reason).toMatch(/wave 1 error threshold exceeded: 2 of 20 failed \(10% > 5%\)/)
    // Nothing more is offered, whatever happens next.
    for (const id of wave1.slice(2)) w.succeed(id)
    w.clock.advance(60 * MIN)
    expect(w.port.offersTo('canary')).toHaveLength(20)
  })

  it('halts when a wave finishes below its success threshold', async () => {
    const w = await World.create()
    w.addDevices(10)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, waves: [{ percent: 50, successThreshold: 100, errorThreshold: 50 }, { percent: 100 }] })
    const [a, ...rest] = w.inProgress('d')
    w.fail(a as string)
    for (const id of rest) w.succeed(id)
    const s = w.engine.status('d')
    expect(s.phase).toBe('halted')
    expect(s.halt?.reason).toMatch(/success threshold not reached: 4 of 5/)
  })
})

describe('rate limits', () => {
  it('constant: no more offers per minute than the rate', async () => {
    const w = await World.create()
    w.addDevices(35)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { perMinute: 10 } })
    expect(w.port.offers).toHaveLength(10)
    w.clock.advance(MIN - 1)
    expect(w.port.offers).toHaveLength(10)
    w.clock.advance(1)
    expect(w.port.offers).toHaveLength(20)
    w.clock.advance(2 * MIN)
    expect(w.port.offers).toHaveLength(35)
  })

  it('exponential: the rate steps up by the factor after each N notified devices', async () => {
    const w = await World.create()
    w.addDevices(100)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { baseRate: 2, factor: 2, notified: 4, maxPerMinute: 16 } })
    const perMinute: number[] = [w.port.offers.length]
    for (let m = 0; m < 5; m++) { const before = w.port.offers.length; w.clock.advance(MIN); perMinute.push(w.port.offers.length - before) }
    // 4 notified → 4 a minute from the next minute on; 4 more → 8; 8 → 16 (the maximum), and it stays there.
    expect(perMinute).toEqual([2, 2, 4, 8, 16, 16])
    expect(w.engine.status('d').ratePerMinute).toBe(16)
  })

  it('exponential by succeeded devices', async () => {
    const w = await World.create()
    w.addDevices(50)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { baseRate: 5, factor: 3, succeeded: 5 } })
    expect(w.port.offers).toHaveLength(5)
    w.clock.advance(MIN)
    expect(w.port.offers).toHaveLength(10) // nobody succeeded: still 5 a minute
    w.succeedAll('d')
    expect(w.engine.status('d').ratePerMinute).toBe(45) // 10 succeeded: two steps of ×3
    expect(w.port.offers).toHaveLength(10) // in the next window, not this one
    w.clock.advance(MIN)
    expect(w.port.offers).toHaveLength(50)
  })
})

describe('abort, timeout, retry', () => {
  it('aborts on a failure-type percentage once enough devices were notified, cancelling the rest', async () => {
    const w = await World.create()
    w.addDevices(40)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { perMinute: 10 }, abort: [{ failureType: 'FAILED', thresholdPercent: 35, minExecuted: 10 }] })
    const first = w.inProgress('d')
    for (const id of first.slice(0, 4)) w.fail(id)
    // 4 of 10 notified failed = 40% ≥ 35%: aborted.
    const s = w.engine.status('d')
    expect(s.phase).toBe('aborted')
    expect(s.state).toBe('Failed')
    expect(s.halt?.reason).toMatch(/abort criterion FAILED met: 4 of 10/)
    expect(s.counts.Canceled).toBe(36)
    expect(w.port.cancels.map((c) => c.deviceId).sort()).toEqual(first.slice(4).sort())
    w.clock.advance(10 * MIN)
    expect(w.port.offers).toHaveLength(10)
  })

  it('does not abort before the minimum number of executed devices', async () => {
    const w = await World.create()
    w.addDevices(20)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { perMinute: 5 }, abort: [{ failureType: 'ALL', thresholdPercent: 10, minExecuted: 10 }] })
    for (const id of w.inProgress('d')) w.fail(id)
    expect(w.engine.status('d').phase).toBe('running')
    w.clock.advance(MIN)
    w.fail(w.inProgress('d')[0] as string)
    expect(w.engine.status('d').phase).toBe('aborted')
  })

  it('aborts on rejections (REJECTED) separately from failures', async () => {
    const w = await World.create()
    w.addDevices(10)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, abort: [{ failureType: 'REJECTED', thresholdPercent: 20, minExecuted: 5 }] })
    const ids = w.inProgress('d')
    w.fail(ids[0] as string) // an install failure is not a rejection
    w.fail(ids[1] as string, makeExtendedResultCode(ErcFacility.Agent, ErcComponent.Manifest, ErcCode.Incompatible))
    expect(w.engine.status('d').phase).toBe('running')
    w.fail(ids[2] as string, makeExtendedResultCode(ErcFacility.Agent, ErcComponent.Manifest, ErcCode.ManifestInvalid))
    expect(w.engine.status('d').phase).toBe('aborted')
  })

  it('marks a device that stays in progress past the timeout TimedOut and tells it to cancel', async () => {
    const w = await World.create()
    w.addDevices(3)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, inProgressTimeout: '10m' })
    const [a, b] = w.inProgress('d')
    w.succeed(a as string)
    w.clock.advance(10 * MIN)
    const recs = w.engine.deviceRecords('d')
    expect(recs.find((r) => r.deviceId === b)?.state).toBe('TimedOut')
    expect(recs.find((r) => r.deviceId === b)?.failureType).toBe('TIMED_OUT')
    expect(recs.find((r) => r.deviceId === a)?.state).toBe('Succeeded')
    expect(w.port.cancels.map((c) => c.deviceId).sort()).toEqual(w.engine.deviceRecords('d').filter((r) => r.state === 'TimedOut').map((r) => r.deviceId).sort())
    expect(w.engine.status('d').state).toBe('ActiveWithSubgroupFailures')
  })

  it('retries a failed or timed-out device with the same workflow and a newer retryTimestamp, ignoring stale reports', async () => {
    const w = await World.create()
    w.addDevices(2)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, retries: 2, inProgressTimeout: '5m' })
    const [a, b] = w.inProgress('d') as [string, string]
    w.fail(a)
    const retry = w.port.offers.filter((o) => o.deviceId === a)
    expect(retry.map((o) => o.attempt)).toEqual([1, 2])
    expect(retry[1]?.retryTimestamp).toBeDefined()
    expect(w.engine.deviceRecords('d').find((r) => r.deviceId === a)?.state).toBe('InProgress')
    // The same failure report again (the retained twin of attempt 1) changes nothing.
    const dev = w.devices.get(a)!
    dev.agent = { ...dev.agent, workflow: { action: 3, id: 'd' } }
    w.report(dev)
    expect(w.port.offers.filter((o) => o.deviceId === a)).toHaveLength(2)
    // b times out, is retried, times out again, is retried, then is TimedOut for good.
    w.clock.advance(5 * MIN)
    w.clock.advance(5 * MIN)
    w.clock.advance(5 * MIN)
    const attempts = w.port.offers.filter((o) => o.deviceId === b)
    expect(attempts.map((o) => o.attempt)).toEqual([1, 2, 3])
    expect(new Set(attempts.map((o) => o.retryTimestamp)).size).toBe(3)
    expect(w.engine.deviceRecords('d').find((r) => r.deviceId === b)?.state).toBe('TimedOut')
  })

  it('retry-failed re-offers every failed and timed-out device and clears a halt', async () => {
    const w = await World.create()
    w.addDevices(10)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, waves: [{ percent: 100, errorThreshold: 10 }] })
    const ids = w.inProgress('d')
    w.fail(ids[0] as string)
    w.fail(ids[1] as string)
    expect(w.engine.status('d').phase).toBe('halted')
    w.engine.retry('d')
    expect(w.engine.status('d').phase).toBe('running')
    const again = w.port.offers.filter((o) => o.attempt === 2).map((o) => o.deviceId).sort()
    expect(again).toEqual([ids[0], ids[1]].sort())
    w.succeedAll('d')
    expect(w.engine.status('d')).toMatchObject({ phase: 'completed', state: 'Active' })
  })
})

describe('rollback, supersede, late joiners, pause/resume/cancel', () => {
  it('deploys the rollback update to the whole group when both failure thresholds are met', async () => {
    const w = await World.create()
    w.addDevices(20)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rollback: { update: OLD, failedPercent: 10, failedCount: 2 } })
    const ids = w.inProgress('d')
    for (const id of ids.slice(0, 10)) w.succeed(id)
    w.fail(ids[10] as string)
    expect(w.engine.status('d').phase).toBe('running') // one failure: count not met
    w.fail(ids[11] as string)
    const s = w.engine.status('d')
    expect(s).toMatchObject({ phase: 'rolledBack', state: 'Failed', rolledBackBy: 'd-rollback' })
    const rb = w.engine.status('d-rollback')
    expect(rb).toMatchObject({ update: OLD, rollbackOf: 'd', state: 'Active' })
    // Offered to the ten devices now on the new version; the others already have the rollback version.
    expect(w.port.offersTo('d-rollback').sort()).toEqual(ids.slice(0, 10).sort())
    for (const id of w.inProgress('d-rollback')) w.succeed(id, OLD)
    expect(w.engine.status('d-rollback').phase).toBe('completed')
    expect(w.engine.compliance('$default').installed).toEqual({ [OLD]: 20 })
  })

  it('a new deployment makes the group\'s previous one Inactive and cancels its open work', async () => {
    const w = await World.create()
    w.addDevices(10)
    w.engine.start()
    w.engine.deploy({ id: 'a', update: NEW, rateLimit: { perMinute: 4 } })
    w.succeed(w.inProgress('a')[0] as string)
    w.engine.deploy({ id: 'b', update: OLD, targetCondition: "properties.reported.firmware = '1.5.0'" })
    const a = w.engine.status('a')
    expect(a).toMatchObject({ state: 'Inactive', phase: 'superseded', supersededBy: 'b' })
    expect(a.counts).toMatchObject({ Succeeded: 1, Canceled: 9, InProgress: 0, Pending: 0 })
    expect(w.port.cancels.filter((c) => c.deploymentId === 'a')).toHaveLength(3)
    expect(() => w.engine.resume('a')).toThrow(FleetError)
    expect(w.engine.compliance('$default').deployment?.id).toBe('b')
  })

  it('gives the active deployment to a device that joins the group later', async () => {
    const w = await World.create()
    w.addDevices(4, { group: 'kitchen' })
    w.addDevices(2, {}, 'other')
    w.engine.start()
    w.engine.deploy({ id: 'd', group: 'kitchen', update: NEW })
    expect(w.port.offersTo('d')).toHaveLength(4)
    w.succeedAll('d')
    expect(w.engine.status('d').phase).toBe('completed')
    w.addDevice('late-1', { group: 'kitchen' })
    w.addDevice('late-2') // $default: not this group
    expect(w.port.offersTo('d')).toEqual(expect.arrayContaining(['late-1']))
    expect(w.port.offersTo('d')).not.toContain('late-2')
    expect(w.engine.deviceRecords('d').find((r) => r.deviceId === 'late-1')?.lateJoiner).toBe(true)
    expect(w.engine.status('d').phase).toBe('running')
    w.succeed('late-1')
    expect(w.engine.status('d')).toMatchObject({ phase: 'completed', counts: { Succeeded: 5 } })
  })

  it('pause stops new offers, resume continues, cancel cancels and cannot be undone', async () => {
    const w = await World.create()
    w.addDevices(30)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, rateLimit: { perMinute: 10 } })
    w.engine.pause('d')
    w.clock.advance(3 * MIN)
    expect(w.port.offers).toHaveLength(10)
    w.succeedAll('d') // in-progress devices still finish while paused
    expect(w.engine.status('d')).toMatchObject({ phase: 'paused', counts: { Succeeded: 10 } })
    w.engine.resume('d')
    expect(w.port.offers).toHaveLength(20)
    w.engine.cancel('d')
    const s = w.engine.status('d')
    expect(s).toMatchObject({ state: 'Canceled', phase: 'canceled', counts: { Succeeded: 10, Canceled: 20 } })
    expect(w.port.cancels).toHaveLength(10)
    const err = (() => { try { w.engine.resume('d') } catch (e) { return e } return undefined })() as FleetError
    expect(err.code).toBe('FLEET_ERR_ROLLOUT_CONFLICT')
    expect(err.message).toMatch(/a cancelled deployment cannot be reactivated/)
    expect(() => w.engine.retry('d')).toThrow(/cannot be reactivated/)
    w.clock.advance(5 * MIN)
    expect(w.port.offers).toHaveLength(20)
  })

  it('waits for a scheduled start', async () => {
    const w = await World.create()
    w.addDevices(3)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, startAt: '+30m' })
    expect(w.engine.status('d').phase).toBe('scheduled')
    w.clock.advance(30 * MIN - 1)
    expect(w.port.offers).toHaveLength(0)
    w.clock.advance(1)
    expect(w.port.offers).toHaveLength(3)
    expect(w.engine.status('d').phase).toBe('running')
  })
})

describe('targeting and compliance', () => {
  it('groups by the ADUGroup tag, classes by compatibility, and narrows by a target condition with semver', async () => {
    const w = await World.create()
    w.addDevices(3, { group: 'lab', room: 'kitchen' }, 'k')
    w.addDevices(2, { group: 'lab', room: 'bedroom' }, 'b')
    w.addDevice('k-new', { group: 'lab', room: 'kitchen', installed: NEW })
    w.addDevice('k-band', { group: 'lab', room: 'kitchen', model: 'xiaomi.band.8' })
    w.engine.start()
    w.engine.deploy({ id: 'd', group: 'lab', update: NEW, targetCondition: "tags.room = 'kitchen' AND properties.reported.firmware < '1.10.0'" })
    // The band is incompatible; k-new already has it (and 1.5.0 < 1.10.0 by semver, so only compatibility keeps it out).
    expect(w.port.offersTo('d').sort()).toEqual(['k-0000', 'k-0001', 'k-0002'])
    const c = w.engine.compliance('lab')
    // k-new is on the latest; the bedroom speakers and the band (whose latest is band-8 2.1.0) have one available.
    expect(c).toMatchObject({ devices: 7, updateInProgress: 3, onLatestUpdate: 1, newUpdatesAvailable: 3 })
    w.succeedAll('d')
    expect(w.engine.compliance('lab')).toMatchObject({ onLatestUpdate: 4, updateInProgress: 0, newUpdatesAvailable: 3 })
    expect(w.engine.status('d').classes).toEqual({ 'manufacturer=Xiaomi,model=xiaomi.speaker.l09a': expect.objectContaining({ Succeeded: 3 }) })
  })

  it('refuses an update that is not imported, not deployable, or a bad request, with exit 2', async () => {
    const w = await World.create()
    w.engine.start()
    const codes = [
      () => w.engine.deploy({ update: 'Xiaomi/speaker-l09a/9.9' }),
      () => w.engine.deploy({ update: 'Xiaomi/camera-c300-firmware/5.2.0' }),
      () => w.engine.deploy({ update: NEW, waves: [{ percent: 0 }], retries: 11, targetCondition: 'tags.room ==' })
    ].map((f): unknown[] | undefined => {
      try { f() } catch (e) { return [(e as FleetError).code, (e as FleetError).exitCode, (e as FleetError).issues.length] }
      return undefined
    })
    expect(codes).toEqual([['FLEET_ERR_ROLLOUT_NOT_FOUND', 2, 0], ['FLEET_ERR_ROLLOUT_INVALID', 2, 0], ['FLEET_ERR_ROLLOUT_INVALID', 2, 3]])
  })

  it('deploys a bundle (parent with reference steps) to its devices', async () => {
    const w = await World.create()
    w.addDevice('cam', { installed: 'Xiaomi/camera-c300/5.1.3', model: 'xiaomi.camera.c300' })
    w.engine.start()
    w.engine.deploy({ id: 'd', update: 'Xiaomi/camera-c300/5.2.0' })
    expect(w.port.offersTo('d')).toEqual(['cam'])
  })
})

describe('durability', () => {
  const dirs: string[] = []
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('resumes an active deployment after a restart without offering the update twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'homefleet-rollout-'))
    dirs.push(dir)
    const store1 = RolloutStore.open(dir)
    await importSamples(store1)
    const w1 = new World(store1)
    w1.addDevices(30)
    w1.engine.start()
    w1.engine.deploy({ id: 'd', update: NEW, rateLimit: { perMinute: 10 }, waves: [{ percent: 50, successThreshold: 80 }, { percent: 100 }] })
    const offered = w1.inProgress('d')
    expect(offered).toHaveLength(10)
    for (const id of offered.slice(0, 5)) w1.succeed(id)
    // Two finish while the service is down: their reports are waiting (retained) when it comes back.
    const whileDown = offered.slice(5, 7)
    w1.engine.stop()
    store1.close()

    const store2 = RolloutStore.open(dir)
    const w2 = new World(store2)
    w2.clock.advance(0)
    for (const [id, dev] of w1.devices) {
      if (whileDown.includes(id)) { dev.installed = NEW; dev.firmware = '1.5.0'; dev.agent = { ...dev.agent, state: 0, workflow: { action: 3, id: 'd' }, installedUpdateId: JSON.stringify({ provider: 'Xiaomi', name: 'speaker-l09a', version: '1.5.0' }), lastInstallResult: { resultCode: 700, extendedResultCode: 0, resultDetails: '' } } }
      w2.devices.set(id, dev)
      w2.report(dev)
    }
    expect(w2.port.offers).toHaveLength(0) // not ready: nothing is sent while the fleet's reports come in
    w2.engine.start()
    const s = w2.engine.status('d')
    expect(s.counts.Succeeded).toBe(7)
    expect(s.counts.InProgress).toBe(3)
    // The rate window of before the restart still holds; a minute later the rest of the first wave (5 pending) goes
    // out, and none of the 10 offered before is offered again.
    expect(w2.port.offers).toHaveLength(0)
    w2.clock.advance(MIN)
    expect(w2.port.offers).toHaveLength(5)
    expect(w2.port.offers.filter((o) => offered.includes(o.deviceId))).toEqual([])
    w2.engine.stop()
    store2.close()
  })
})

describe('status', () => {
  /** The counts as the device records give them, to compare with what status() reports from its running tallies. */
  function recount (w: World, id: string): { counts: Record<string, number>; waves: Record<string, number>[]; classes: Record<string, Record<string, number>>; notified: number } {
    const zero = (): Record<string, number> => ({ Pending: 0, InProgress: 0, Succeeded: 0, Failed: 0, TimedOut: 0, Canceled: 0 })
    const out = { counts: zero(), waves: w.engine.status(id).waves.map(zero), classes: {} as Record<string, Record<string, number>>, notified: 0 }
    for (const r of w.engine.deviceRecords(id)) {
      out.counts[r.state] = (out.counts[r.state] ?? 0) + 1
      const wave = out.waves[r.wave] as Record<string, number>
      wave[r.state] = (wave[r.state] ?? 0) + 1
      const cls = (out.classes[r.deviceClass || 'unknown'] ??= zero())
      cls[r.state] = (cls[r.state] ?? 0) + 1
      if (r.attempts > 0) out.notified++
    }
    return out
  }

  function expectAgrees (w: World, id: string): void {
    const s = w.engine.status(id)
    const r = recount(w, id)
    expect(s.counts).toEqual(r.counts)
    expect(s.waves.map((x) => x.counts)).toEqual(r.waves)
    expect(s.classes).toEqual(r.classes)
    const failed = r.counts.Failed! + r.counts.TimedOut!
    expect(s.failureRate).toBe(r.notified === 0 ? 0 : Math.round((failed / r.notified) * 10000) / 100)
  }

  it('counts per state, wave and device class agree with the device records through failures, retries, timeouts, cancels and a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'homefleet-status-'))
    try {
      const store1 = RolloutStore.open(dir)
      const w = new World(store1)
      await importSamples(store1)
      w.addDevices(40)
      w.engine.start()
      w.engine.deploy({ id: 'd', update: NEW, waves: [{ percent: 25, successThreshold: 50, errorThreshold: 50 }, { percent: 100, errorThreshold: 100 }], inProgressTimeout: '10m', retries: 1 })
      expectAgrees(w, 'd')
      const first = w.inProgress('d')
      expect(first).toHaveLength(10)
      for (const id of first.slice(0, 6)) w.succeed(id)
      w.fail(first[6] as string) // retried: in progress again
      expectAgrees(w, 'd')
      w.fail(first[6] as string) // out of retries: Failed
      expectAgrees(w, 'd')
      w.clock.advance(30 * 60_000) // the rest time out, are retried, time out again
      w.clock.advance(30 * 60_000)
      expectAgrees(w, 'd')
      expect(w.engine.status('d').currentWave).toBe(1)
      for (const id of w.inProgress('d').slice(0, 5)) w.succeed(id)
      w.engine.retry('d')
      expectAgrees(w, 'd')
      w.engine.stop()
      store1.close()

      // After a restart the tallies are rebuilt from the stored records.
      const store2 = RolloutStore.open(dir)
      const w2 = new World(store2)
      for (const [id, dev] of w.devices) { w2.devices.set(id, dev); w2.report(dev) }
      w2.engine.start()
      expectAgrees(w2, 'd')
      w2.engine.cancel('d')
      expectAgrees(w2, 'd')
      expect(w2.engine.status('d').counts.Canceled).toBeGreaterThan(0)
      w2.engine.stop()
      store2.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('store writes', () => {
  it('a device\'s result writes its record, not the whole deployment again, unless the deployment\'s state changes with it', async () => {
    const w = await World.create()
    w.addDevices(10)
    w.engine.start()
    w.engine.deploy({ id: 'd', update: NEW, waves: [{ percent: 100, errorThreshold: 100 }] })
    const offered = w.inProgress('d')
    const before = { ...w.store.writes }
    w.succeed(offered[0] as string)
    expect(w.store.writes.records).toBe(before.records + 1)
    expect(w.store.writes.deployments).toBe(before.deployments)
    // The first failure makes it ActiveWithSubgroupFailures: that is stored.
    w.fail(offered[1] as string)
    expect(w.store.writes.deployments).toBe(before.deployments + 1)
    expect(w.store.loadDeployments().find((d) => d.spec.id === 'd')?.state).toBe('ActiveWithSubgroupFailures')
    // The last result completes it: stored too, with the records that say so.
    for (const id of offered.slice(2)) w.succeed(id)
    const stored = w.store.loadDeployments().find((d) => d.spec.id === 'd')
    expect(stored?.phase).toBe('completed')
    expect(w.store.loadRecords('d').filter((r) => r.state === 'Succeeded')).toHaveLength(9)
    expect(w.port.changes).toBeGreaterThan(10) // every result still announced a status change
  })
})
