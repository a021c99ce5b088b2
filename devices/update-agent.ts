/**
 * The firmware-update agent: a capability (devices/capability.ts) that makes any device an Azure Device Update (ADU)
 * goal-state agent. It takes `deviceUpdate.service` from the desired twin, walks Download → Install → Apply, and
 * reports `deviceUpdate.agent` in the reported twin with ADU's states, result codes and extended result codes
 * (core/device-update.ts). It talks to the rollout service only over MQTT: files are fetched with a request on
 * `{p}/$bridge/rollout/fetch/{deviceId}/{rid}` and arrive on `{p}/$bridge/rollout/deliveries/{deviceId}/{rid}`.
 *
 * - Download: each file of the update (and of the child updates its reference steps name, through their detached
 *   manifests), at `bandwidth` bytes per second of clock time with progress in the reported twin, then a real SHA-256
 *   of the bytes received against the manifest's digest.
 * - Install: `installMs` of clock time, during which commands are answered `UPDATING` (503).
 * - Apply: a reboot: the device goes offline and comes back running the new version.
 * - Workflow ids (ADU goal state): the same id with a newer `retryTimestamp` is a retry; a new id replaces the work in
 *   progress; action 255 cancels it (result −1).
 * - Faults, per device selection and with a probability (seeded per device: the same seed fails the same devices):
 *   `downloadTimeout`, `hashMismatch`, `installFailure`, `noReport` (the device works on but never reports back),
 *   `bootLoop` (the new firmware does not boot; the device rolls itself back and reports the failure).
 */
import { createHash } from 'node:crypto'
import { FleetError, type Issue } from '../core/errors.ts'
import {
  AgentState, ErcCode, ErcComponent, ErcFacility, makeExtendedResultCode, MQTT_FILE_URL_SCHEME, ResultCode, WorkflowAction,
  type AgentReport, type InstallResult, type ServiceRequest, type UpdateIdentity, type UpdateManifest, type UpdateManifestFile
} from '../core/device-update.ts'
import { globMatcher } from '../core/glob.ts'
import type { Random } from '../core/random.ts'
import { CommandError } from './command-error.ts'
import type { Capability, CapabilityFactory, DeviceContext } from './capability.ts'

export const UPDATE_FAULTS = ['downloadTimeout', 'hashMismatch', 'installFailure', 'noReport', 'bootLoop'] as const
export type UpdateFault = typeof UPDATE_FAULTS[number]

export interface UpdateFaultSpec {
  readonly fault: UpdateFault
  /** Device ids or globs (`kitchen-*`); default every device. */
  readonly devices?: readonly string[]
  /** Chance per workflow attempt, 0–1; default 1. */
  readonly probability?: number
}

export interface UpdateAgentOptions {
  /** Download speed in bytes per second of clock time. Default 256 KiB/s. */
  readonly bandwidth?: number
  /** Time the install step takes. Default 5 s. */
  readonly installMs?: number
  /** Time the device is offline while it reboots to apply. Default 3 s. */
  readonly rebootMs?: number
  /** A file not delivered within this time fails the download. Default 60 s. */
  readonly downloadTimeoutMs?: number
  /**
   * A file request not answered within this time is sent again (until the download timeout), as a real agent's
   * download handler retries: a request made while the rollout service was restarting would otherwise be lost.
   * Default 5 s.
   */
  readonly fetchRetryMs?: number
  /** Progress reports per download (0: none, ADU's goal-state agent reports none). Default 4 (every 25%). */
  readonly progressSteps?: number
  /** Reported as `deviceProperties.manufacturer`. Default `Xiaomi`. */
  readonly manufacturer?: string
  readonly faults?: readonly UpdateFaultSpec[]
}

type AgentSettings = Required<Omit<UpdateAgentOptions, 'faults'>>

export const UPDATE_AGENT_DEFAULTS: Readonly<AgentSettings> = Object.freeze({
  bandwidth: 256 * 1024,
  installMs: 5000,
  rebootMs: 3000,
  downloadTimeoutMs: 60_000,
  fetchRetryMs: 5000,
  progressSteps: 4,
  manufacturer: 'Xiaomi'
})

/** Check agent options; every problem at once, FLEET_ERR_OPTIONS_INVALID. */
export function checkUpdateAgentOptions (o: UpdateAgentOptions): void {
  const issues: Issue[] = []
  const positive = (v: number | undefined, path: string): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) issues.push({ path, message: `must be a positive number, got ${v}` })
  }
  positive(o.bandwidth, 'bandwidth')
  positive(o.downloadTimeoutMs, 'downloadTimeoutMs')
  positive(o.fetchRetryMs, 'fetchRetryMs')
  if (o.installMs !== undefined && !(o.installMs >= 0)) issues.push({ path: 'installMs', message: `must be 0 or more, got ${o.installMs}` })
  if (o.rebootMs !== undefined && !(o.rebootMs >= 0)) issues.push({ path: 'rebootMs', message: `must be 0 or more, got ${o.rebootMs}` })
  if (o.progressSteps !== undefined && !(Number.isInteger(o.progressSteps) && o.progressSteps >= 0 && o.progressSteps <= 100)) issues.push({ path: 'progressSteps', message: `must be a whole number 0–100, got ${o.progressSteps}` })
  for (const [i, f] of (o.faults ?? []).entries()) {
    if (!(UPDATE_FAULTS as readonly string[]).includes(f.fault)) issues.push({ path: `faults[${i}].fault`, message: `must be one of ${UPDATE_FAULTS.join(', ')}, got ${JSON.stringify(f.fault)}` })
    if (f.probability !== undefined && !(f.probability >= 0 && f.probability <= 1)) issues.push({ path: `faults[${i}].probability`, message: `must be 0–1, got ${f.probability}` })
  }
  if (issues.length > 0) throw new FleetError('FLEET_ERR_OPTIONS_INVALID', 'update agent options', { issues })
}

/**
 * The update name of a model, as HomeFleet's manifests use it: `xiaomi.speaker.l09a` → `speaker-l09a`. The agent
 * reports the firmware it runs as `{provider: manufacturer, name, version: firmware}` until it installs an update.
 */
export function updateNameOf (model: string): string {
  return model.replace(/^xiaomi\./i, '').replace(/\./g, '-')
}

/** Make the agent for each device of a fleet (`DeviceRuntime.capabilities`) or one device (`device.use`). */
export function updateAgent (options: UpdateAgentOptions = {}): CapabilityFactory {
  checkUpdateAgentOptions(options)
  return (ctx) => new UpdateAgent(ctx, options).capability()
}

class Cancelled extends Error {}
class StepFailure extends Error {
  constructor (readonly step: string, readonly erc: number, message: string) { super(message) }
}

interface Work {
  readonly id: string
  readonly retryTimestamp: string | undefined
  readonly abort: AbortController
  /** The faults drawn for this attempt. */
  readonly faults: ReadonlySet<UpdateFault>
}

interface PendingFetch { resolve: (bytes: Buffer) => void; reject: (err: Error) => void }

class UpdateAgent {
  private readonly ctx: DeviceContext
  private readonly o: AgentSettings
  private readonly faults: readonly { spec: UpdateFaultSpec; matches: boolean }[]
  private readonly rng: Random
  private state: number = AgentState.Idle
  private workflow: AgentReport['workflow']
  private installed: UpdateIdentity
  private lastInstallResult: InstallResult | undefined
  private progress: number | undefined
  private work: Work | undefined
  /** Commands are refused while installing or applying. */
  private busy = false
  /** `noReport`: after this attempt started, nothing more is reported. */
  private silent = false
  private readonly fetches = new Map<string, PendingFetch>()
  private fetchSeq = 0
  private readonly deliveryFilter: string

  constructor (ctx: DeviceContext, options: UpdateAgentOptions) {
    this.ctx = ctx
    this.o = { ...UPDATE_AGENT_DEFAULTS, ...options }
    this.faults = (options.faults ?? []).map((spec) => ({ spec, matches: spec.devices === undefined || globMatcher(spec.devices)(ctx.id) }))
    this.rng = ctx.fork('update-agent')
    this.installed = { provider: this.o.manufacturer, name: updateNameOf(ctx.spec.model), version: ctx.firmware }
    this.deliveryFilter = ctx.topics.filter('rolloutDelivery', ctx.id)
  }

  capability (): Capability {
    return {
      name: 'update-agent',
      desired: { deviceUpdate: (value: never) => { this.onDesired(value) } },
      reported: () => ({ deviceUpdate: { agent: this.report() } }),
      beforeCommand: () => {
        if (this.busy) throw new CommandError('UPDATING', 'installing a firmware update; try again after it is applied')
      },
      subscriptions: () => [{ filter: this.deliveryFilter, onMessage: (topic, payload) => { this.onDelivery(topic, payload) } }],
      stop: () => { this.stop() }
    }
  }

  private report (): AgentReport {
    return {
      deviceProperties: { manufacturer: this.o.manufacturer, model: this.ctx.spec.model },
      compatPropertyNames: 'manufacturer,model',
      state: this.state,
      ...(this.workflow === undefined ? {} : { workflow: this.workflow }),
      installedUpdateId: JSON.stringify(this.installed),
      ...(this.lastInstallResult === undefined ? {} : { lastInstallResult: this.lastInstallResult }),
      ...(this.progress === undefined ? {} : { progress: this.progress })
    }
  }

  private changed (): void {
    if (!this.silent) this.ctx.stateChanged()
  }

  private stop (): void {
    this.work?.abort.abort(new Cancelled('device stopped'))
    this.work = undefined
    for (const f of this.fetches.values()) f.reject(new Cancelled('device stopped'))
    this.fetches.clear()
  }

  // ---- the desired twin ----

  private onDesired (value: unknown): void {
    const service = (value as { service?: unknown } | null)?.service
    if (typeof service !== 'object' || service === null) throw new CommandError('INVALID_VALUE', 'deviceUpdate must be {service: {workflow, updateManifest, fileUrls}}')
    const req = service as Partial<ServiceRequest>
    const wf = req.workflow
    if (typeof wf !== 'object' || wf === null || typeof wf.id !== 'string' || typeof wf.action !== 'number') throw new CommandError('INVALID_VALUE', 'deviceUpdate.service.workflow must be {action, id, retryTimestamp?}')
    const retryTimestamp = typeof wf.retryTimestamp === 'string' ? wf.retryTimestamp : undefined
    if (wf.action === WorkflowAction.Cancel) { this.cancel(wf.id); return }
    if (wf.action !== WorkflowAction.ProcessDeployment) throw new CommandError('INVALID_VALUE', `unknown workflow action ${wf.action}`)

    const current = this.workflow
    if (current?.id === wf.id && (current.retryTimestamp ?? undefined) === retryTimestamp) {
      // The same goal again (the retained desired twin after a reconnect or a reboot): nothing new to do.
      return
    }
    if (current?.id === wf.id && retryTimestamp !== undefined && current.retryTimestamp !== undefined && retryTimestamp < current.retryTimestamp) return
    // A new id replaces the work in progress; the same id with a newer retryTimestamp retries it.
    this.work?.abort.abort(new Cancelled('replaced'))
    const faults = new Set<UpdateFault>()
    for (const f of this.faults) {
      // One draw per fault and attempt, always made, so that the stream does not depend on which faults matched.
      const draw = this.rng.next()
      if (f.matches && draw < (f.spec.probability ?? 1)) faults.add(f.spec.fault)
    }
    const work: Work = { id: wf.id, retryTimestamp, abort: new AbortController(), faults }
    this.work = work
    this.workflow = { action: WorkflowAction.ProcessDeployment, id: wf.id, ...(retryTimestamp === undefined ? {} : { retryTimestamp }) }
    this.silent = false
    this.run(work, req).catch((err: unknown) => {
      this.ctx.log('error', 'update workflow crashed', { error: (err as Error).message })
    })
  }

  private cancel (id: string): void {
    const work = this.work
    if (work === undefined || work.id !== id) return
    work.abort.abort(new Cancelled('cancelled by the service'))
  }

  // ---- the workflow ----

  private async run (work: Work, req: Partial<ServiceRequest>): Promise<void> {
    const signal = work.abort.signal
    const steps: Record<string, { resultCode: number; extendedResultCode: number; resultDetails: string }> = {}
    this.state = AgentState.DeploymentInProgress
    this.progress = 0
    this.changed()
    if (work.faults.has('noReport')) {
      // The agent hangs after taking the work: nothing more is done or reported, whatever the service sends,
      // until newer work replaces it. Only the service's in-progress timeout can tell.
      this.silent = true
      await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
      return
    }
    try {
      const manifest = this.parseManifest(req.updateManifest)
      if (sameId(manifest.updateId, this.installed)) {
        this.done(work, { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: 'already installed', stepResults: {} })
        return
      }
      // Download every file of the update and of its children (detached manifests first), then install, then apply.
      const plan = await this.planFiles(manifest, req.fileUrls ?? {}, signal)
      const total = plan.reduce((n, f) => n + f.file.sizeInBytes, 0)
      let doneBytes = 0
      for (const f of plan) {
        const bytes = await this.download(f.url, f.file, work, signal, (n) => { this.setProgress((doneBytes + n) / Math.max(1, total)) })
        doneBytes += f.file.sizeInBytes
        let digest = createHash('sha256').update(bytes).digest('base64')
        if (work.faults.has('hashMismatch')) digest = createHash('sha256').update(bytes).update('\u0000corrupted').digest('base64')
        if (digest !== f.file.hashes.sha256) throw new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Hash, ErcCode.HashMismatch), `sha256 of ${f.file.fileName} is ${digest}, the manifest says ${f.file.hashes.sha256}`)
      }
      steps.step_0 = { resultCode: ResultCode.DownloadSuccess, extendedResultCode: 0, resultDetails: `${plan.length} file(s), ${total} bytes` }
      this.progress = undefined

      this.busy = true
      await this.ctx.clock.sleep(this.o.installMs, signal)
      if (work.faults.has('installFailure')) throw new StepFailure('install', makeExtendedResultCode(ErcFacility.Install, ErcComponent.Handler, ErcCode.HandlerFailed), 'the install handler failed (injected)')
      steps.step_1 = { resultCode: ResultCode.InstallSuccess, extendedResultCode: 0, resultDetails: '' }

      // Apply: reboot into the new version. A boot loop reboots again and falls back to the old version.
      const previous = this.installed
      if (work.faults.has('bootLoop')) {
        await this.ctx.reboot({ offlineMs: this.o.rebootMs, firmware: manifest.updateId.version })
        await this.ctx.reboot({ offlineMs: this.o.rebootMs, firmware: previous.version })
        throw new StepFailure('apply', makeExtendedResultCode(ErcFacility.Apply, ErcComponent.Reboot, ErcCode.BootLoop), `${manifest.updateId.version} did not boot; rolled back to ${previous.version}`)
      }
      this.installed = manifest.updateId
      await this.ctx.reboot({ offlineMs: this.o.rebootMs, firmware: manifest.updateId.version })
      this.done(work, { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: '', stepResults: { ...steps, step_2: { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: '' } } })
    } catch (err) {
      if (this.work !== work) return // replaced by newer work: it reports for itself
      if (err instanceof Cancelled || signal.aborted) {
        const reason = signal.reason instanceof Error ? signal.reason.message : 'cancelled'
        if (reason === 'device stopped') return
        this.done(work, { resultCode: ResultCode.Cancelled, extendedResultCode: makeExtendedResultCode(ErcFacility.Agent, ErcComponent.Workflow, ErcCode.Cancelled), resultDetails: reason, stepResults: steps }, AgentState.Failed)
        return
      }
      if (err instanceof StepFailure) {
        this.ctx.log('warn', `update ${err.step} failed`, { workflow: work.id, error: err.message })
        this.done(work, { resultCode: ResultCode.Failure, extendedResultCode: err.erc, resultDetails: err.message, stepResults: steps }, AgentState.Failed)
        return
      }
      if (err instanceof FleetError && err.code === 'FLEET_ERR_CLOSED') return
      throw err
    }
  }

  private done (work: Work, result: InstallResult, state: number = AgentState.Idle): void {
    if (this.work !== work) return
    this.work = undefined
    this.busy = false
    this.progress = undefined
    this.state = state
    this.lastInstallResult = result
    this.changed()
    if (state === AgentState.Idle) this.ctx.log('info', 'update applied', { workflow: work.id, installed: JSON.stringify(this.installed) })
  }

  private setProgress (fraction: number): void {
    const steps = this.o.progressSteps
    if (steps === 0) return
    const pct = Math.floor(Math.min(1, fraction) * steps) * Math.floor(100 / steps)
    if (pct !== this.progress) { this.progress = pct; this.changed() }
  }

  /**
   * Parse an update manifest and check it is for this device. A child's detached manifest names a component of the
   * device (`component: firmware`…), which ADU matches through its component enumerator; here the device is its own
   * only component, so a child's compatibility is not checked again.
   */
  private parseManifest (text: unknown, child = false): UpdateManifest {
    const reject = (why: string): StepFailure => new StepFailure('manifest', makeExtendedResultCode(ErcFacility.Agent, ErcComponent.Manifest, ErcCode.ManifestInvalid), why)
    if (typeof text !== 'string') throw reject('no updateManifest')
    let m: UpdateManifest
    try { m = JSON.parse(text) as UpdateManifest } catch { throw reject('updateManifest is not JSON') }
    if (typeof m.updateId?.version !== 'string' || !Array.isArray(m.compatibility) || !Array.isArray(m.instructions?.steps)) throw reject('updateManifest lacks updateId, compatibility or instructions')
    if (child) return m
    const props: Record<string, string> = { manufacturer: this.o.manufacturer, model: this.ctx.spec.model }
    const fits = m.compatibility.some((set) => Object.entries(set).every(([k, v]) => {
      const key = Object.keys(props).find((p) => p.toLowerCase() === k.toLowerCase())
      return key !== undefined && props[key]?.toLowerCase() === String(v).toLowerCase()
    }))
    if (!fits) throw new StepFailure('manifest', makeExtendedResultCode(ErcFacility.Agent, ErcComponent.Manifest, ErcCode.Incompatible), `not compatible with ${this.o.manufacturer} ${this.ctx.spec.model}`)
    return m
  }

  /** The files to download, the children's through their detached manifests (fetched first). */
  private async planFiles (m: UpdateManifest, urls: Record<string, string>, signal: AbortSignal): Promise<{ url: string; file: UpdateManifestFile }[]> {
    const out: { url: string; file: UpdateManifestFile }[] = []
    const add = (manifest: UpdateManifest): void => {
      for (const step of manifest.instructions.steps) {
        if (step.type === 'reference') continue
        for (const id of step.files) {
          const file = manifest.files[id]
          const url = urls[id]
          if (file === undefined || url === undefined) throw new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.FileMissing), `file ${id} has no entry in the manifest or no URL`)
          out.push({ url, file })
        }
      }
    }
    add(m)
    for (const step of m.instructions.steps) {
      if (step.type !== 'reference') continue
      const id = step.detachedManifestFileId
      const url = id === undefined ? undefined : urls[id]
      if (id === undefined || url === undefined) throw new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.FileMissing), 'a reference step has no detached manifest')
      const bytes = await this.fetch(url, signal)
      add(this.parseManifest(bytes.toString('utf8'), true))
    }
    return out
  }

  /** Fetch a file and take its size / bandwidth of clock time, reporting progress. */
  private async download (url: string, file: UpdateManifestFile, work: Work, signal: AbortSignal, progress: (bytes: number) => void): Promise<Buffer> {
    const duration = (file.sizeInBytes / this.o.bandwidth) * 1000
    if (work.faults.has('downloadTimeout') || duration > this.o.downloadTimeoutMs) {
      await this.ctx.clock.sleep(this.o.downloadTimeoutMs, signal)
      throw new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.Timeout), `${file.fileName} not downloaded within ${this.o.downloadTimeoutMs} ms`)
    }
    const bytes = await this.fetch(url, signal)
    const steps = Math.max(1, this.o.progressSteps)
    for (let i = 1; i <= steps; i++) {
      await this.ctx.clock.sleep(duration / steps, signal)
      progress((file.sizeInBytes * i) / steps)
    }
    return bytes
  }

  /** Ask the rollout service for the bytes behind a file URL (an MQTT topic); bounded by the download timeout. */
  private fetch (url: string, signal: AbortSignal): Promise<Buffer> {
    if (!url.startsWith(MQTT_FILE_URL_SCHEME)) return Promise.reject(new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.FileMissing), `unsupported file URL ${url}`))
    const rid = `f${++this.fetchSeq}`
    return new Promise<Buffer>((resolve, reject) => {
      const timer = this.ctx.clock.setTimeout(() => {
        settle()
        reject(new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.Timeout), `no answer for ${url} within ${this.o.downloadTimeoutMs} ms`))
      }, this.o.downloadTimeoutMs)
      const ask = (): void => { this.ctx.publish(this.ctx.topics.build('rolloutFetch', this.ctx.id, rid), JSON.stringify({ url: url.slice(MQTT_FILE_URL_SCHEME.length) }), { qos: 1 }) }
      // The same request again while no answer came (the service may have been down): a late duplicate answer finds
      // nothing pending and is ignored.
      const again = this.ctx.clock.setInterval(ask, this.o.fetchRetryMs)
      const settle = (): void => { this.ctx.clock.clearTimer(timer); this.ctx.clock.clearTimer(again); this.fetches.delete(rid); signal.removeEventListener('abort', onAbort) }
      const onAbort = (): void => { settle(); reject(new Cancelled('aborted')) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.fetches.set(rid, { resolve: (b) => { settle(); resolve(b) }, reject: (e) => { settle(); reject(e) } })
      ask()
    })
  }

  private onDelivery (topic: string, payload: Buffer): void {
    const parsed = this.ctx.topics.parse(topic)
    if (parsed?.channel !== 'rolloutDelivery') return
    const pending = this.fetches.get(parsed.rid)
    if (pending === undefined) return
    // An empty delivery is the service's "no such file".
    if (payload.length === 0) pending.reject(new StepFailure('download', makeExtendedResultCode(ErcFacility.Download, ErcComponent.Transfer, ErcCode.FileMissing), 'the service has no such file'))
    else pending.resolve(payload)
  }
}

function sameId (a: UpdateIdentity, b: UpdateIdentity): boolean {
  return a.provider === b.provider && a.name === b.name && a.version === b.version
}
