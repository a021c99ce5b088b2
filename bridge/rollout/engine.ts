/**
 * The deployment engine: groups, targeting, waves with gates, rate limits, abort criteria, timeouts, retries,
 * rollback, supersede, pause/resume/cancel/retry and compliance, on the injected clock and with no I/O of its own.
 * It is told what devices report ({@link RolloutEngine.upsertDevice}) and tells a {@link RolloutPort} what to send
 * (offers and cancels, which the service turns into desired-twin writes over MQTT). Tests drive it with a
 * VirtualClock and no sockets.
 *
 * Every public method is one step: what it changed is written to the store in one transaction before the port hears
 * of it, so after a crash the store is never behind what devices were sent.
 */
import type { Clock, TimerHandle } from '../../core/clock.ts'
import { AgentState, isRejection, ResultCode, type AgentReport, type InstallResult } from '../../core/device-update.ts'
import { FleetError } from '../../core/errors.ts'
import { hash32 } from '../../core/random.ts'
import { compareVersions, parseCondition, type Condition } from './condition.ts'
import { compatibilityKey } from './manifest-import.ts'
import { updateKey } from './manifest.ts'
import {
  DEFAULT_GROUP, GROUP_TAG, normalizeDeployment,
  type Deployment, type DeploymentInput, type DeploymentSpec, type DeviceDeploymentState, type DeviceRecord
} from './model.ts'
import type { RolloutStore, StoredUpdate } from './store.ts'

/** What the engine knows of a device: from its retained info (tags) and reported twin. */
export interface DeviceView {
  readonly id: string
  readonly tags: Readonly<Record<string, unknown>>
  readonly reported: Readonly<Record<string, unknown>>
  readonly online: boolean
}

interface KnownDevice extends DeviceView {
  readonly groupId: string
  readonly agent: AgentReport | undefined
  /** Compatibility properties (per `compatPropertyNames`) as a key; '' without an agent. */
  readonly deviceClass: string
  readonly properties: Readonly<Record<string, string>>
  readonly installed: string | undefined
}

/** Where the engine's decisions go: the service publishes them over MQTT. */
export interface RolloutPort {
  /** Ask a device to process the deployment (a new offer, or a retry with a newer retryTimestamp). */
  offer (deviceId: string, deployment: Deployment, record: DeviceRecord): void
  /** Ask a device to cancel the deployment's workflow. */
  cancel (deviceId: string, deploymentId: string): void
  /** A deployment's status changed (after it was stored). */
  changed (deployment: Deployment): void
  /** A group's compliance may have changed. */
  groupChanged (groupId: string): void
  log (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void
}

export type StateCounts = Record<DeviceDeploymentState, number>

export interface DeploymentStatus {
  readonly id: string
  readonly groupId: string
  readonly update: string
  readonly state: Deployment['state']
  readonly phase: Deployment['phase']
  readonly createdAt: number
  readonly startAt?: number
  readonly currentWave: number
  readonly waves: readonly (Deployment['waves'][number] & { counts: StateCounts })[]
  readonly counts: StateCounts
  /** Per device class (ADU subgroup): counts by state. */
  readonly classes: Readonly<Record<string, StateCounts>>
  /** Failed and timed-out devices as a percentage of the devices notified. */
  readonly failureRate: number
  readonly halt?: Deployment['halt']
  readonly rolledBackBy?: string
  readonly rollbackOf?: string
  readonly supersededBy?: string
  readonly ratePerMinute?: number
  readonly spec: DeploymentSpec
}

export interface GroupCompliance {
  readonly groupId: string
  readonly devices: number
  readonly onLatestUpdate: number
  readonly updateInProgress: number
  readonly newUpdatesAvailable: number
  /** Devices by installed update (`provider/name/version`, or `unknown`). */
  readonly installed: Readonly<Record<string, number>>
  /** The group's current deployment, if any. */
  readonly deployment?: { id: string; state: Deployment['state']; phase: Deployment['phase'] }
}

const emptyCounts = (): StateCounts => ({ Pending: 0, InProgress: 0, Succeeded: 0, Failed: 0, TimedOut: 0, Canceled: 0 })

/**
 * Counts kept up to date as records change state, so that a device's result costs O(1) however large the
 * deployment (gates, abort criteria and rollback read these, not the records).
 */
interface Tally {
  total: StateCounts
  waves: StateCounts[]
  /** Records offered at least once (AWS IoT Jobs' "notified"). */
  notified: number
  failureTypes: { FAILED: number; REJECTED: number; TIMED_OUT: number }
  /** Pending records per wave, in the order they were chosen. */
  pending: Set<DeviceRecord>[]
  /** Counts per device class (ADU's subgroups; `unknown` for a record without one). */
  classes: Map<string, StateCounts>
}
const MINUTE = 60_000

export interface EngineOptions {
  readonly clock: Clock
  readonly store: RolloutStore
  readonly port: RolloutPort
}

export class RolloutEngine {
  private readonly clock: Clock
  private readonly store: RolloutStore
  private readonly port: RolloutPort
  private readonly deployments = new Map<string, Deployment>()
  private readonly records = new Map<string, Map<string, DeviceRecord>>()
  private readonly tallies = new Map<string, Tally>()
  private readonly devices = new Map<string, KnownDevice>()
  private readonly conditions = new Map<string, Condition>()
  private readonly updates = new Map<string, StoredUpdate>()
  private readonly wakeTimers = new Map<string, { at: number; handle: TimerHandle }>()
  private readonly timeoutTimers = new Map<string, TimerHandle>()
  private readonly dirtyDeployments = new Set<Deployment>()
  private readonly countedDeployments = new Set<Deployment>()
  private readonly dirtyRecords = new Set<DeviceRecord>()
  private readonly dirtyGroups = new Set<string>()
  /** Memos of {@link know}: compatPropertyNames → names, names and values → class, installedUpdateId → update key. */
  private readonly propertyNames = new Map<string, string[]>()
  private readonly classes = new Map<string, { properties: Readonly<Record<string, string>>; key: string }>()
  private readonly installedKeys = new Map<string, string | undefined>()
  private depth = 0
  private ready = false
  private stopped = false
  private idCounter = 0

  constructor (options: EngineOptions) {
    this.clock = options.clock
    this.store = options.store
    this.port = options.port
    for (const d of this.store.loadDeployments()) {
      this.deployments.set(d.spec.id, d)
      const recs = new Map<string, DeviceRecord>()
      const t = this.tallyOf(d)
      for (const r of this.store.loadRecords(d.spec.id)) {
        recs.set(r.deviceId, r)
        this.count(t, r, 1)
        if (r.attempts > 0) t.notified++
      }
      this.records.set(d.spec.id, recs)
    }
  }

  /**
   * Devices have been heard from (the retained info and reported twins after a (re)start): from now on waves may
   * open and offers go out. Before, a wave would be cut from an empty fleet, and a device that already installed the
   * update could be offered it again because its report had not arrived yet.
   */
  start (): void {
    this.step(() => {
      this.ready = true
      for (const d of this.deployments.values()) {
        if (d.phase === 'scheduled') this.wake(d, d.spec.startAt ?? this.now())
        if (!this.isLive(d)) continue
        const recs = this.recordsOf(d.spec.id)
        for (const r of recs.values()) if (r.state === 'InProgress') this.armTimeout(d, r)
        this.pump(d)
      }
    })
  }

  stop (): void {
    this.stopped = true
    for (const t of this.wakeTimers.values()) this.clock.clearTimer(t.handle)
    for (const t of this.timeoutTimers.values()) this.clock.clearTimer(t)
    this.wakeTimers.clear()
    this.timeoutTimers.clear()
  }

  // ---- devices ----

  /** A device's info or reported twin arrived or changed. */
  upsertDevice (view: DeviceView): void {
    this.step(() => {
      const before = this.devices.get(view.id)
      const device = this.know(view)
      this.devices.set(view.id, device)
      this.dirtyGroups.add(device.groupId)
      if (before !== undefined && before.groupId !== device.groupId) this.dirtyGroups.add(before.groupId)
      if (device.agent !== undefined) this.onAgent(device)
      this.considerLateJoiner(device)
    })
  }

  private know (view: DeviceView): KnownDevice {
    const tag = view.tags[GROUP_TAG]
    const groupId = typeof tag === 'string' && tag !== '' ? tag : DEFAULT_GROUP
    const du = view.reported.deviceUpdate as { agent?: AgentReport } | undefined
    const agent = typeof du?.agent === 'object' && du.agent !== null ? du.agent : undefined
    let properties: Record<string, string> = {}
    let deviceClass = ''
    let installed: string | undefined
    if (agent !== undefined) {
      // Every report of every device carries these; a fleet has few distinct ones, so each is worked out once.
      const namesText = typeof agent.compatPropertyNames === 'string' && agent.compatPropertyNames !== '' ? agent.compatPropertyNames : 'manufacturer,model'
      const names = this.propertyNames.get(namesText) ?? memo(this.propertyNames, namesText, namesText.split(',').map((n) => n.trim()))
      const props = typeof agent.deviceProperties === 'object' && agent.deviceProperties !== null ? agent.deviceProperties : {}
      let classOf = namesText
      for (const n of names) classOf += typeof props[n] === 'string' ? `\u0000${props[n]}` : '\u0001'
      let cls = this.classes.get(classOf)
      if (cls === undefined) {
        const p = Object.freeze(Object.fromEntries(names.flatMap((n) => (typeof props[n] === 'string' ? [[n, props[n]]] : []))) as Record<string, string>)
        cls = memo(this.classes, classOf, { properties: p, key: compatibilityKey(p) })
      }
      properties = cls.properties
      deviceClass = cls.key
      if (typeof agent.installedUpdateId === 'string') {
        installed = this.installedKeys.has(agent.installedUpdateId) ? this.installedKeys.get(agent.installedUpdateId) : memo(this.installedKeys, agent.installedUpdateId, installedKey(agent.installedUpdateId))
      }
    }
    // Field by field: an object spread here cost more than all the rest of this function (V8's clone of a literal).
    return { id: view.id, tags: view.tags, reported: view.reported, online: view.online, groupId, agent, deviceClass, properties, installed }
  }

  /** Devices known to the engine (tests, status). */
  knownDevices (): number { return this.devices.size }

  private onAgent (device: KnownDevice): void {
    const agent = device.agent as AgentReport
    // The workflow id is the deployment id, so a report finds its record directly.
    const wf = agent.workflow?.id
    for (const d of this.deployments.values()) {
      const rec = this.recordsOf(d.spec.id).get(device.id)
      if (rec === undefined) continue
      if (rec.state === 'Pending' && device.installed === d.spec.update) {
        // Installed by other means before we offered it: nothing to send.
        this.finish(d, rec, 'Succeeded', { resultCode: ResultCode.InstallSkippedAlreadyInstalled, extendedResultCode: 0, resultDetails: 'already installed' })
        continue
      }
      if (rec.state !== 'InProgress' || wf !== d.spec.id) continue
      const result = agent.lastInstallResult
      const sameAttempt = (agent.workflow?.retryTimestamp ?? undefined) === rec.retryTimestamp
      if (agent.state === AgentState.Idle && device.installed === d.spec.update && (result === undefined || result.resultCode > 0)) {
        this.finish(d, rec, 'Succeeded', result ?? { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: '' })
      } else if (agent.state === AgentState.Failed && sameAttempt && result !== undefined) {
        if (result.resultCode === ResultCode.Cancelled) this.finish(d, rec, 'Canceled', result)
        else this.failed(d, rec, isRejection(result.extendedResultCode) ? 'REJECTED' : 'FAILED', result)
      }
    }
  }

  private considerLateJoiner (device: KnownDevice): void {
    const d = this.currentOf(device.groupId)
    if (d === undefined || !this.ready) return
    if (d.phase !== 'running' && d.phase !== 'completed' && d.phase !== 'paused') return
    const recs = this.recordsOf(d.spec.id)
    if (recs.has(device.id) || !this.matches(d, device) || device.installed === d.spec.update) return
    const last = d.spec.waves.length - 1
    if (d.currentWave < last) return // the next wave will count it among the remaining devices
    const wave = d.waves[last]
    if (wave === undefined) return
    const rec = this.newRecord(d, device, last)
    rec.lateJoiner = true
    wave.size++
    if (d.phase === 'completed') { d.phase = 'running'; delete d.completedAt }
    this.port.log('info', 'late joiner added to the deployment', { deploymentId: d.spec.id, deviceId: device.id })
    this.touch(d)
    this.pump(d)
  }

  // ---- deployments: the operator's verbs ----

  /** Create a deployment; a previous one of the group becomes Inactive. */
  deploy (input: DeploymentInput): Deployment {
    let created: Deployment | undefined
    this.step(() => {
      const spec = normalizeDeployment(input, this.now(), () => this.newId())
      created = this.create(spec)
    })
    return created as Deployment
  }

  private create (spec: DeploymentSpec): Deployment {
    if (this.deployments.has(spec.id)) throw new FleetError('FLEET_ERR_ROLLOUT_CONFLICT', `deployment ${spec.id} already exists; give the new one another id`)
    const update = this.update(spec.update)
    if (update === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `no update ${spec.update} has been imported`)
    if (!update.manifest.isDeployable) throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `${spec.update} is not deployable (isDeployable: false): it is installed only as part of the update that references it`)
    const unserved = update.files.find((f) => f.servedSha256 === undefined)
    if (unserved !== undefined) throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `${spec.update} cannot be deployed in a simulation: ${unserved.filename} (${unserved.sizeInBytes} bytes) is larger than the service can serve over MQTT`)
    for (const child of this.children(update)) {
      if (child === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `${spec.update} references an update that has not been imported`)
    }
    if (spec.rollback !== undefined && this.update(spec.rollback.update) === undefined) {
      throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `the rollback update ${spec.rollback.update} has not been imported`)
    }
    if (spec.targetCondition !== undefined) this.conditions.set(spec.id, parseCondition(spec.targetCondition))
    const previous = this.currentOf(spec.groupId)
    if (previous !== undefined && previous.phase !== 'rolledBack') this.supersede(previous, spec.id)
    const now = this.now()
    const initialRate = spec.rateLimit === undefined ? 0 : spec.rateLimit.kind === 'constant' ? spec.rateLimit.perMinute : spec.rateLimit.baseRate
    const d: Deployment = {
      spec,
      createdAt: now,
      state: 'Active',
      phase: spec.startAt !== undefined && spec.startAt > now ? 'scheduled' : 'running',
      currentWave: -1,
      waves: spec.waves.map((w, index) => ({ index, percent: w.percent, size: 0 })),
      rate: { perMinute: initialRate, notifiedSinceStep: 0, succeededSinceStep: 0, windowStart: now, sentInWindow: 0, windowRate: initialRate },
      manualRetries: 0
    }
    this.deployments.set(spec.id, d)
    this.records.set(spec.id, new Map())
    this.touch(d)
    this.port.log('info', 'deployment created', { deploymentId: spec.id, groupId: spec.groupId, update: spec.update, phase: d.phase })
    if (d.phase === 'scheduled') this.wake(d, spec.startAt as number)
    else this.pump(d)
    return d
  }

  pause (id: string): Deployment {
    return this.verb(id, (d) => {
      if (d.phase !== 'running' && d.phase !== 'scheduled' && d.phase !== 'completed') throw this.conflict(d, 'pause')
      d.phase = 'paused'
    })
  }

  resume (id: string): Deployment {
    return this.verb(id, (d) => {
      if (d.phase === 'paused') {
        d.phase = d.currentWave < 0 && d.spec.startAt !== undefined && d.spec.startAt > this.now() ? 'scheduled' : 'running'
      } else if (d.phase === 'halted') {
        // An operator's override of the gate that halted it (hawkBit's resume): that wave's gates no longer apply.
        d.gatesOverriddenUpTo = d.currentWave
        delete d.halt
        d.phase = 'running'
      } else {
        throw this.conflict(d, 'resume')
      }
      if (d.phase === 'scheduled') this.wake(d, d.spec.startAt as number)
      this.pump(d)
    })
  }

  cancel (id: string): Deployment {
    return this.verb(id, (d) => {
      if (d.phase === 'canceled') return
      if (d.phase === 'superseded' || d.phase === 'rolledBack') throw this.conflict(d, 'cancel')
      d.phase = 'canceled'
      d.canceledAt = this.now()
      this.cancelOpen(d, true)
    })
  }

  /** ADU's "retry failed devices": failed and timed-out devices get the same workflow with a newer retryTimestamp. */
  retry (id: string): Deployment {
    return this.verb(id, (d) => {
      if (d.phase === 'canceled' || d.phase === 'superseded' || d.phase === 'rolledBack') throw this.conflict(d, 'retry')
      d.manualRetries++
      let n = 0
      for (const r of this.recordsOf(id).values()) {
        if (r.state !== 'Failed' && r.state !== 'TimedOut') continue
        this.setState(d, r, 'Pending')
        n++
      }
      if (d.phase === 'halted' || d.phase === 'aborted' || d.phase === 'completed') {
        d.gatesOverriddenUpTo = d.currentWave
        delete d.halt
        d.phase = 'running'
      }
      this.port.log('info', 'retrying failed devices', { deploymentId: id, devices: n })
      this.pump(d)
    })
  }

  private verb (id: string, fn: (d: Deployment) => void): Deployment {
    const d = this.deployments.get(id)
    if (d === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `no deployment ${JSON.stringify(id)}`)
    this.step(() => { fn(d); this.touch(d) })
    return d
  }

  private conflict (d: Deployment, verb: string): FleetError {
    const why = d.phase === 'canceled' ? 'a cancelled deployment cannot be reactivated' : `it is ${d.state} (${d.phase})`
    return new FleetError('FLEET_ERR_ROLLOUT_CONFLICT', `cannot ${verb} deployment ${d.spec.id}: ${why}`)
  }

  private supersede (d: Deployment, by: string): void {
    d.phase = 'superseded'
    d.state = 'Inactive'
    d.supersededBy = by
    this.cancelOpen(d, true)
    this.touch(d)
    this.port.log('info', 'deployment superseded', { deploymentId: d.spec.id, by })
  }

  /** Pending devices are cancelled; in-progress ones too, and told so when `notify`. */
  private cancelOpen (d: Deployment, notify: boolean): void {
    for (const r of this.recordsOf(d.spec.id).values()) {
      if (r.state !== 'Pending' && r.state !== 'InProgress') continue
      const wasOffered = r.state === 'InProgress'
      this.setState(d, r, 'Canceled')
      this.clearTimeout(d, r)
      if (wasOffered && notify) this.port.cancel(r.deviceId, d.spec.id)
    }
  }

  // ---- the pump: gates, waves, offers ----

  private pump (d: Deployment): void {
    if (!this.ready || this.stopped) return
    if (d.phase === 'scheduled') {
      if ((d.spec.startAt ?? 0) > this.now()) { this.wake(d, d.spec.startAt as number); return }
      d.phase = 'running'
      this.touch(d)
    }
    if (d.phase !== 'running') return
    if (d.currentWave < 0) this.openWave(d, 0)
    if (this.checkAbort(d)) return
    // Gates, wave after wave (an empty or already-passed wave lets the next one open at once).
    for (;;) {
      const wave = d.waves[d.currentWave]
      const spec = d.spec.waves[d.currentWave]
      if (wave === undefined || spec === undefined) break
      const c = this.waveCounts(d, d.currentWave)
      const overridden = (d.gatesOverriddenUpTo ?? -1) >= d.currentWave
      const failed = c.Failed + c.TimedOut
      if (!overridden && wave.size > 0 && (failed / wave.size) * 100 > spec.errorThreshold) {
        this.halt(d, `wave ${d.currentWave + 1} error threshold exceeded: ${failed} of ${wave.size} failed (${pct(failed, wave.size)}% > ${spec.errorThreshold}%)`, (failed / wave.size) * 100)
        return
      }
      if (wave.thresholdMetAt === undefined && (overridden || wave.size === 0 || (c.Succeeded / wave.size) * 100 >= spec.successThreshold)) {
        wave.thresholdMetAt = this.now()
        this.touch(d)
      }
      const last = d.currentWave === d.spec.waves.length - 1
      if (wave.thresholdMetAt === undefined) {
        // The success threshold opens the next wave; the last wave has none to open, so it simply finishes.
        if (last && c.Pending === 0 && c.InProgress === 0) { wave.thresholdMetAt = this.now(); this.touch(d); break }
        if (c.Pending === 0 && c.InProgress === 0) {
          this.halt(d, `wave ${d.currentWave + 1} success threshold not reached: ${c.Succeeded} of ${wave.size} succeeded (${pct(c.Succeeded, wave.size)}% < ${spec.successThreshold}%)`, (failed / wave.size) * 100)
          return
        }
        break
      }
      if (last) break
      const opensAt = wave.thresholdMetAt + spec.soakMs
      if (this.now() < opensAt) { this.wake(d, opensAt); break }
      wave.passedAt = this.now()
      this.openWave(d, d.currentWave + 1)
    }
    this.dispatch(d)
    this.checkCompleted(d)
  }

  private openWave (d: Deployment, index: number): void {
    const spec = d.spec.waves[index]
    const wave = d.waves[index]
    if (spec === undefined || wave === undefined) return
    const recs = this.recordsOf(d.spec.id)
    const remaining: KnownDevice[] = []
    for (const dev of this.devices.values()) {
      if (dev.groupId === d.spec.groupId && !recs.has(dev.id) && dev.installed !== d.spec.update && this.matches(d, dev)) remaining.push(dev)
    }
    // A stable spread: the same devices are chosen in every run, and not simply the first ids.
    const order = (id: string): number => hash32(`${d.spec.id}:${id}`)
    remaining.sort((a, b) => order(a.id) - order(b.id) || (a.id < b.id ? -1 : 1))
    const count = Math.min(remaining.length, Math.ceil((spec.percent / 100) * remaining.length))
    for (const dev of remaining.slice(0, count)) this.newRecord(d, dev, index)
    wave.size += count
    wave.openedAt = this.now()
    d.currentWave = index
    this.touch(d)
    this.port.log('info', 'wave opened', { deploymentId: d.spec.id, wave: index + 1, devices: count, remaining: remaining.length })
  }

  private newRecord (d: Deployment, dev: KnownDevice, wave: number): DeviceRecord {
    const rec: DeviceRecord = { deploymentId: d.spec.id, deviceId: dev.id, state: 'Pending', wave, attempts: 0, updatedAt: this.now(), deviceClass: dev.deviceClass }
    this.recordsOf(d.spec.id).set(dev.id, rec)
    this.count(this.tallyOf(d), rec, 1)
    this.dirtyRecords.add(rec)
    return rec
  }

  private dispatch (d: Deployment): void {
    let allowance = this.allowance(d)
    if (allowance <= 0) { this.wake(d, d.rate.windowStart + MINUTE); return }
    const t = this.tallyOf(d)
    if (t.total.Pending === 0) return
    // A copy: offering takes records out of the pending sets.
    const pending = t.pending.flatMap((set) => [...set])
    for (const r of pending) {
      if (allowance <= 0) { this.wake(d, d.rate.windowStart + MINUTE); break }
      const dev = this.devices.get(r.deviceId)
      // Only to devices whose report has arrived: one that already has the update is then never offered it again.
      if (dev?.agent === undefined) continue
      if (dev.installed === d.spec.update) {
        this.finish(d, r, 'Succeeded', { resultCode: ResultCode.InstallSkippedAlreadyInstalled, extendedResultCode: 0, resultDetails: 'already installed' })
        continue
      }
      this.offer(d, r)
      allowance--
      this.countNotified(d)
    }
  }

  private allowance (d: Deployment): number {
    if (d.spec.rateLimit === undefined) return Number.POSITIVE_INFINITY
    const now = this.now()
    if (now - d.rate.windowStart >= MINUTE) { d.rate.windowStart = now; d.rate.sentInWindow = 0; d.rate.windowRate = d.rate.perMinute; this.touch(d) }
    return d.rate.windowRate - d.rate.sentInWindow
  }

  private countNotified (d: Deployment): void {
    if (d.spec.rateLimit === undefined) return
    d.rate.sentInWindow++
    d.rate.notifiedSinceStep++
    this.touch(d)
    this.stepUpRate(d)
  }

  /** AWS IoT Jobs' exponential rollout: multiply the rate each time enough more devices were notified or succeeded. */
  private stepUpRate (d: Deployment): void {
    const r = d.spec.rateLimit
    if (r?.kind !== 'exponential') return
    const byNotified = r.notified !== undefined && d.rate.notifiedSinceStep >= r.notified
    const bySucceeded = r.succeeded !== undefined && d.rate.succeededSinceStep >= r.succeeded
    if (!byNotified && !bySucceeded) return
    const next = Math.min(r.maxPerMinute, Math.max(d.rate.perMinute + 1, Math.floor(d.rate.perMinute * r.factor)))
    if (next !== d.rate.perMinute) this.port.log('info', 'rollout rate stepped up', { deploymentId: d.spec.id, from: d.rate.perMinute, to: next })
    d.rate.perMinute = next
    d.rate.notifiedSinceStep = 0
    d.rate.succeededSinceStep = 0
    this.touch(d)
  }

  private offer (d: Deployment, r: DeviceRecord): void {
    r.attempts++
    if (r.attempts === 1) this.tallyOf(d).notified++
    this.setState(d, r, 'InProgress')
    const now = this.now()
    r.offeredAt = now
    r.updatedAt = now
    if (r.attempts > 1) {
      // ADU's retry: the same workflow id with a newer retryTimestamp (strictly newer, even within one millisecond).
      let ts = new Date(now).toISOString()
      if (r.retryTimestamp !== undefined && ts <= r.retryTimestamp) ts = new Date(Date.parse(r.retryTimestamp) + 1).toISOString()
      r.retryTimestamp = ts
    }
    delete r.resultCode
    delete r.extendedResultCode
    delete r.resultDetails
    this.dirtyRecords.add(r)
    this.armTimeout(d, r)
    this.port.offer(r.deviceId, d, r)
  }

  private failed (d: Deployment, r: DeviceRecord, type: 'FAILED' | 'REJECTED' | 'TIMED_OUT', result: InstallResult): void {
    this.clearTimeout(d, r)
    r.resultCode = result.resultCode
    r.extendedResultCode = result.extendedResultCode
    r.resultDetails = result.resultDetails
    // Automatic retries (AWS retry config) for failed and timed-out devices, not for a rejection: it would reject again.
    if (type !== 'REJECTED' && r.attempts <= d.spec.retries && this.isLive(d) && d.phase !== 'aborted') {
      this.port.log('info', 'retrying device', { deploymentId: d.spec.id, deviceId: r.deviceId, attempt: r.attempts + 1, failure: type })
      this.offer(d, r)
      return
    }
    this.setState(d, r, type === 'TIMED_OUT' ? 'TimedOut' : 'Failed', type)
    this.counted(d)
    if (type === 'TIMED_OUT') this.port.cancel(r.deviceId, d.spec.id)
    if (this.checkRollback(d)) return
    this.pump(d)
  }

  private finish (d: Deployment, r: DeviceRecord, state: 'Succeeded' | 'Canceled', result: InstallResult): void {
    this.clearTimeout(d, r)
    this.setState(d, r, state)
    r.resultCode = result.resultCode
    r.extendedResultCode = result.extendedResultCode
    r.resultDetails = result.resultDetails
    r.updatedAt = this.now()
    this.dirtyRecords.add(r)
    this.counted(d)
    if (state === 'Succeeded' && d.spec.rateLimit !== undefined) {
      d.rate.succeededSinceStep++
      this.touch(d)
      this.stepUpRate(d)
    }
    this.pump(d)
  }

  private halt (d: Deployment, reason: string, failureRate: number): void {
    d.phase = 'halted'
    d.halt = { wave: d.currentWave + 1, reason, at: this.now(), failureRate }
    this.touch(d)
    this.port.log('warn', 'deployment halted', { deploymentId: d.spec.id, reason })
    this.checkRollback(d)
  }

  private checkAbort (d: Deployment): boolean {
    if (d.spec.abort.length === 0) return false
    const { notified, failureTypes: byType } = this.tallyOf(d)
    for (const a of d.spec.abort) {
      if (notified < a.minExecuted) continue
      const n = a.failureType === 'ALL' ? byType.FAILED + byType.REJECTED + byType.TIMED_OUT : byType[a.failureType]
      const rate = (n / notified) * 100
      if (rate < a.thresholdPercent) continue
      d.phase = 'aborted'
      d.halt = { wave: d.currentWave + 1, reason: `abort criterion ${a.failureType} met: ${n} of ${notified} notified devices (${pct(n, notified)}% >= ${a.thresholdPercent}%)`, at: this.now(), failureRate: rate }
      this.cancelOpen(d, true)
      this.touch(d)
      this.port.log('warn', 'deployment aborted', { deploymentId: d.spec.id, reason: d.halt.reason })
      this.checkRollback(d)
      return true
    }
    return false
  }

  /** ADU's cloud-initiated rollback: when both failure thresholds are met, deploy the rollback update to the group. */
  private checkRollback (d: Deployment): boolean {
    const policy = d.spec.rollback
    if (policy === undefined || d.rolledBackBy !== undefined || d.phase === 'canceled' || d.phase === 'superseded') return false
    const t = this.tallyOf(d)
    const failed = t.total.Failed + t.total.TimedOut
    const total = t.notified
    if (failed < policy.failedCount || total === 0 || (failed / total) * 100 < policy.failedPercent) return false
    const id = `${d.spec.id}-rollback`
    d.phase = 'rolledBack'
    d.rolledBackBy = id
    d.halt ??= { wave: d.currentWave + 1, reason: 'rolled back', at: this.now(), failureRate: (failed / total) * 100 }
    // Work in progress is cancelled first (the same desired topic, so the device sees the cancel before any rollback
    // offer). A device that still lands on the failed update reports it, and then joins the rollback late.
    this.cancelOpen(d, true)
    this.touch(d)
    this.port.log('warn', 'cloud-initiated rollback', { deploymentId: d.spec.id, rollback: id, update: policy.update, failed, of: total })
    this.create({
      id: this.deployments.has(id) ? this.newId() : id,
      groupId: d.spec.groupId,
      update: policy.update,
      waves: [{ percent: 100, soakMs: 0, successThreshold: 0, errorThreshold: 100 }],
      abort: [],
      retries: d.spec.retries,
      ...(d.spec.inProgressTimeoutMs === undefined ? {} : { inProgressTimeoutMs: d.spec.inProgressTimeoutMs }),
      rollbackOf: d.spec.id
    })
    return true
  }

  private checkCompleted (d: Deployment): void {
    if (d.phase !== 'running' || d.currentWave !== d.spec.waves.length - 1) return
    const last = d.waves[d.currentWave]
    if (last?.thresholdMetAt === undefined) return
    const t = this.tallyOf(d)
    if (t.total.Pending > 0 || t.total.InProgress > 0) return
    d.phase = 'completed'
    d.completedAt = this.now()
    last.passedAt ??= this.now()
    this.touch(d)
    this.port.log('info', 'deployment completed', { deploymentId: d.spec.id })
  }

  // ---- timers ----

  private armTimeout (d: Deployment, r: DeviceRecord): void {
    const ms = d.spec.inProgressTimeoutMs
    if (ms === undefined || r.offeredAt === undefined) return
    this.clearTimeout(d, r)
    const key = `${d.spec.id}\u0000${r.deviceId}`
    const attempt = r.attempts
    const handle = this.clock.setTimeout(() => {
      this.timeoutTimers.delete(key)
      this.step(() => {
        if (r.state !== 'InProgress' || r.attempts !== attempt) return
        this.port.log('warn', 'device timed out', { deploymentId: d.spec.id, deviceId: r.deviceId, attempt })
        this.failed(d, r, 'TIMED_OUT', { resultCode: ResultCode.Failure, extendedResultCode: 0, resultDetails: `no result within ${ms} ms` })
      })
    }, Math.max(0, r.offeredAt + ms - this.now()))
    this.timeoutTimers.set(key, handle)
  }

  private clearTimeout (d: Deployment, r: DeviceRecord): void {
    const key = `${d.spec.id}\u0000${r.deviceId}`
    const t = this.timeoutTimers.get(key)
    if (t !== undefined) { this.clock.clearTimer(t); this.timeoutTimers.delete(key) }
  }

  /** One wake-up timer per deployment, at the earliest time something is due (start, soak end, rate window). */
  private wake (d: Deployment, at: number): void {
    if (this.stopped) return
    const id = d.spec.id
    const existing = this.wakeTimers.get(id)
    if (existing !== undefined && existing.at <= at) return
    if (existing !== undefined) this.clock.clearTimer(existing.handle)
    const handle = this.clock.setTimeout(() => {
      this.wakeTimers.delete(id)
      this.step(() => { this.pump(d) })
    }, Math.max(0, at - this.now()))
    this.wakeTimers.set(id, { at, handle })
  }

  // ---- helpers ----

  private step (fn: () => void): void {
    this.depth++
    try {
      fn()
    } finally {
      this.depth--
      if (this.depth === 0) this.commit()
    }
  }

  private commit (): void {
    if (this.dirtyDeployments.size === 0 && this.countedDeployments.size === 0 && this.dirtyRecords.size === 0 && this.dirtyGroups.size === 0) return
    const deps = new Set(this.dirtyDeployments)
    const counted = [...this.countedDeployments]
    const recs = [...this.dirtyRecords]
    const groups = [...this.dirtyGroups]
    this.dirtyDeployments.clear()
    this.countedDeployments.clear()
    this.dirtyRecords.clear()
    this.dirtyGroups.clear()
    // A device's result changes only the counts, which are not stored with the deployment (they come from the
    // records); its state (ActiveWithSubgroupFailures) follows from them, and is stored when it changes.
    for (const d of counted) {
      const before = d.state
      this.refreshState(d)
      if (d.state !== before) deps.add(d)
      groups.push(d.spec.groupId)
    }
    for (const d of deps) { this.refreshState(d); groups.push(d.spec.groupId) }
    if (deps.size > 0 || recs.length > 0) {
      this.store.transaction(() => {
        for (const d of deps) this.store.saveDeployment(d)
        for (const r of recs) this.store.saveRecord(r)
      })
    }
    for (const d of new Set([...deps, ...counted])) this.port.changed(d)
    for (const g of new Set(groups)) this.port.groupChanged(g)
  }

  /** ADU's state from the phase: failures in a device class (subgroup) make an active deployment ActiveWithSubgroupFailures. */
  private refreshState (d: Deployment): void {
    switch (d.phase) {
      case 'superseded': d.state = 'Inactive'; return
      case 'canceled': d.state = 'Canceled'; return
      case 'halted': case 'aborted': case 'rolledBack': d.state = 'Failed'; return
      default: {
        const t = this.tallyOf(d)
        d.state = t.total.Failed + t.total.TimedOut > 0 ? 'ActiveWithSubgroupFailures' : 'Active'
      }
    }
  }

  /** The deployment itself changed: it is stored, and its status published, at the end of the step. */
  private touch (d: Deployment): void { this.dirtyDeployments.add(d) }

  /** Only its counts changed (a device's result): its status is published, the deployment is not stored again. */
  private counted (d: Deployment): void { this.countedDeployments.add(d) }

  private now (): number { return this.clock.now() }

  private newId (): string {
    return `dep-${this.now().toString(36)}-${(++this.idCounter).toString(36)}`
  }

  private isLive (d: Deployment): boolean {
    return d.phase === 'running' || d.phase === 'paused' || d.phase === 'scheduled' || d.phase === 'halted' || d.phase === 'completed'
  }

  private recordsOf (id: string): Map<string, DeviceRecord> {
    let m = this.records.get(id)
    if (m === undefined) { m = new Map(); this.records.set(id, m) }
    return m
  }

  /** The group's current deployment: the newest one that is not Inactive or Canceled. */
  private currentOf (groupId: string): Deployment | undefined {
    let current: Deployment | undefined
    for (const d of this.deployments.values()) {
      if (d.spec.groupId !== groupId || d.phase === 'superseded' || d.phase === 'canceled') continue
      if (d.phase === 'rolledBack') continue
      if (current === undefined || d.createdAt >= current.createdAt) current = d
    }
    return current
  }

  private update (key: string): StoredUpdate | undefined {
    // Only found updates are cached: one imported later (by `fleet rollout import --data-dir` into the same
    // database, or through the service) is seen at once.
    let u = this.updates.get(key)
    if (u === undefined) {
      u = this.store.getUpdate(key)
      if (u !== undefined) this.updates.set(key, u)
    }
    return u
  }

  /** Forget cached updates (after an import). */
  updatesChanged (): void { this.updates.clear() }

  private children (u: StoredUpdate): (StoredUpdate | undefined)[] {
    return u.manifest.instructions.steps.flatMap((s) => (s.type === 'reference' ? [this.update(updateKey(s.updateId))] : []))
  }

  private compatible (update: StoredUpdate, dev: KnownDevice): boolean {
    if (dev.agent === undefined) return false
    return update.manifest.compatibility.some((set) => Object.entries(set).every(([k, v]) => {
      const key = Object.keys(dev.properties).find((p) => p.toLowerCase() === k.toLowerCase())
      return key !== undefined && dev.properties[key]?.toLowerCase() === v.toLowerCase()
    }))
  }

  private matches (d: Deployment, dev: KnownDevice): boolean {
    const update = this.update(d.spec.update)
    if (update === undefined || !this.compatible(update, dev)) return false
    if (d.spec.targetCondition === undefined) return true
    let cond = this.conditions.get(d.spec.id)
    if (cond === undefined) { cond = parseCondition(d.spec.targetCondition); this.conditions.set(d.spec.id, cond) }
    return cond({ deviceId: dev.id, tags: dev.tags, reported: dev.reported })
  }

  private waveCounts (d: Deployment, wave: number): StateCounts {
    return this.tallyOf(d).waves[wave] ?? emptyCounts()
  }

  private tallyOf (d: Deployment): Tally {
    let t = this.tallies.get(d.spec.id)
    if (t === undefined) {
      t = { total: emptyCounts(), waves: d.spec.waves.map(emptyCounts), notified: 0, failureTypes: { FAILED: 0, REJECTED: 0, TIMED_OUT: 0 }, pending: d.spec.waves.map(() => new Set()), classes: new Map() }
      this.tallies.set(d.spec.id, t)
    }
    return t
  }

  /** Add (+1) or remove (−1) a record's contribution to the counts. */
  private count (t: Tally, r: DeviceRecord, n: 1 | -1): void {
    t.total[r.state] += n
    const clsKey = r.deviceClass || 'unknown'
    let cls = t.classes.get(clsKey)
    if (cls === undefined) { cls = emptyCounts(); t.classes.set(clsKey, cls) }
    cls[r.state] += n
    const w = t.waves[r.wave]
    if (w !== undefined) w[r.state] += n
    if (r.failureType !== undefined && (r.state === 'Failed' || r.state === 'TimedOut')) t.failureTypes[r.failureType] += n
    if (r.state === 'Pending') {
      const set = t.pending[r.wave]
      if (n === 1) set?.add(r)
      else set?.delete(r)
    }
  }

  /** The one way a record changes state, so that the counts stay true. */
  private setState (d: Deployment, r: DeviceRecord, state: DeviceDeploymentState, failureType?: 'FAILED' | 'REJECTED' | 'TIMED_OUT'): void {
    const t = this.tallyOf(d)
    this.count(t, r, -1)
    r.state = state
    if (failureType === undefined) delete r.failureType
    else r.failureType = failureType
    r.updatedAt = this.now()
    this.count(t, r, 1)
    this.dirtyRecords.add(r)
  }

  // ---- read side ----

  get (id: string): Deployment | undefined { return this.deployments.get(id) }

  list (): Deployment[] { return [...this.deployments.values()] }

  deviceRecords (id: string): DeviceRecord[] { return [...this.recordsOf(id).values()] }

  status (id: string): DeploymentStatus {
    const d = this.deployments.get(id)
    if (d === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `no deployment ${JSON.stringify(id)}`)
    // From the tallies, not the records: the service publishes this on every change, so it must not cost O(devices).
    const t = this.tallyOf(d)
    const counts = { ...t.total }
    const classes: Record<string, StateCounts> = {}
    for (const [cls, c] of t.classes) classes[cls] = { ...c }
    const waves = d.waves.map((w, i) => ({ ...w, counts: { ...(t.waves[i] ?? emptyCounts()) } }))
    const notified = t.notified
    const failed = counts.Failed + counts.TimedOut
    return {
      id, groupId: d.spec.groupId, update: d.spec.update, state: d.state, phase: d.phase, createdAt: d.createdAt,
      ...(d.spec.startAt === undefined ? {} : { startAt: d.spec.startAt }),
      currentWave: d.currentWave, waves, counts, classes,
      failureRate: notified === 0 ? 0 : Math.round((failed / notified) * 10000) / 100,
      ...(d.halt === undefined ? {} : { halt: d.halt }),
      ...(d.rolledBackBy === undefined ? {} : { rolledBackBy: d.rolledBackBy }),
      ...(d.spec.rollbackOf === undefined ? {} : { rollbackOf: d.spec.rollbackOf }),
      ...(d.supersededBy === undefined ? {} : { supersededBy: d.supersededBy }),
      ...(d.spec.rateLimit === undefined ? {} : { ratePerMinute: d.rate.perMinute }),
      spec: d.spec
    }
  }

  /** ADU's compliance view of a group: on the latest update, in progress, or with a newer update available. */
  compliance (groupId: string): GroupCompliance {
    const current = this.currentOf(groupId)
    const recs = current === undefined ? undefined : this.recordsOf(current.spec.id)
    const latestByClass = new Map<string, string | undefined>()
    const all = this.store.listUpdates().filter((u) => u.manifest.isDeployable)
    let devices = 0; let onLatest = 0; let inProgress = 0; let available = 0
    const installed: Record<string, number> = {}
    for (const dev of this.devices.values()) {
      if (dev.groupId !== groupId || dev.agent === undefined) continue
      devices++
      installed[dev.installed ?? 'unknown'] = (installed[dev.installed ?? 'unknown'] ?? 0) + 1
      if (recs?.get(dev.id)?.state === 'InProgress') { inProgress++; continue }
      if (!latestByClass.has(dev.deviceClass)) {
        let best: StoredUpdate | undefined
        for (const u of all) {
          if (!this.compatible(u, dev)) continue
          if (best === undefined || (compareVersions(u.manifest.updateId.version, best.manifest.updateId.version) ?? 0) > 0) best = u
        }
        latestByClass.set(dev.deviceClass, best?.key)
      }
      const latest = latestByClass.get(dev.deviceClass)
      if (latest === undefined || latest === dev.installed) onLatest++
      else available++
    }
    return {
      groupId, devices, onLatestUpdate: onLatest, updateInProgress: inProgress, newUpdatesAvailable: available, installed,
      ...(current === undefined ? {} : { deployment: { id: current.spec.id, state: current.state, phase: current.phase } })
    }
  }

  /** Every group with a device or a deployment. */
  groups (): string[] {
    const g = new Set<string>()
    for (const d of this.devices.values()) if (d.agent !== undefined) g.add(d.groupId)
    for (const d of this.deployments.values()) g.add(d.spec.groupId)
    return [...g].sort()
  }
}

/** The update key of an agent's `installedUpdateId` (a JSON string of the updateId); undefined when it is not one. */
function installedKey (text: string): string | undefined {
  try {
    const id = JSON.parse(text) as { provider?: unknown; name?: unknown; version?: unknown }
    if (typeof id.provider === 'string' && typeof id.name === 'string' && typeof id.version === 'string') return updateKey({ provider: id.provider, name: id.name, version: id.version })
  } catch { /* a bad installedUpdateId is an unknown one */ }
  return undefined
}

/** Remember `value` under `key` (forgetting everything past 1,000 entries: a memo, not a store) and return it. */
function memo<V> (map: Map<string, V>, key: string, value: V): V {
  if (map.size >= 1000) map.clear()
  map.set(key, value)
  return value
}

function pct (n: number, of: number): number {
  return of === 0 ? 0 : Math.round((n / of) * 10000) / 100
}
