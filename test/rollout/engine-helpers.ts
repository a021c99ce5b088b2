/**
 * The deployment engine on a VirtualClock with an in-memory store and a recording port: devices are plain objects
 * whose reports the test writes, the way the update agent would.
 */
import { readdirSync } from 'node:fs'
import { VirtualClock } from '../../core/clock.ts'
import { AgentState, ResultCode, makeExtendedResultCode, ErcFacility, ErcComponent, ErcCode, type AgentReport } from '../../core/device-update.ts'
import { RolloutEngine, type RolloutPort } from '../../bridge/rollout/engine.ts'
import { planImport } from '../../bridge/rollout/manifest-import.ts'
import type { Deployment, DeviceRecord } from '../../bridge/rollout/model.ts'
import { RolloutStore } from '../../bridge/rollout/store.ts'

export const OLD = 'Xiaomi/speaker-l09a/1.4.2'
export const NEW = 'Xiaomi/speaker-l09a/1.5.0'
export const SAMPLES = new URL('../../docs/examples/updates/', import.meta.url)

export async function importSamples (store: RolloutStore): Promise<void> {
  const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.json')).map((f) => new URL(f, SAMPLES).pathname)
  store.saveImport(await planImport(files, store), 0)
}

export interface Offer { deviceId: string; deploymentId: string; attempt: number; retryTimestamp?: string; at: number }

export class RecordingPort implements RolloutPort {
  readonly offers: Offer[] = []
  readonly cancels: { deviceId: string; deploymentId: string }[] = []
  readonly logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = []
  changes = 0
  constructor (private readonly clock: VirtualClock) {}
  offer (deviceId: string, d: Deployment, r: DeviceRecord): void {
    this.offers.push({ deviceId, deploymentId: d.spec.id, attempt: r.attempts, ...(r.retryTimestamp === undefined ? {} : { retryTimestamp: r.retryTimestamp }), at: this.clock.now() })
  }

  cancel (deviceId: string, deploymentId: string): void { this.cancels.push({ deviceId, deploymentId }) }
  changed (): void { this.changes++ }
  groupChanged (): void {}
  log (level: string, msg: string, fields?: Record<string, unknown>): void { this.logs.push({ level, msg, ...(fields === undefined ? {} : { fields }) }) }
  offersTo (deploymentId: string): string[] { return this.offers.filter((o) => o.deploymentId === deploymentId).map((o) => o.deviceId) }
}

export interface SimDevice {
  id: string
  tags: Record<string, string>
  model: string
  installed: string
  firmware: string
  agent: AgentReport
}

function idJson (key: string): string {
  const [provider, name, version] = key.split('/')
  return JSON.stringify({ provider, name, version })
}

/** A small world: a clock, a store, an engine, a port, and devices the test makes report. */
export class World {
  readonly clock = new VirtualClock()
  readonly store = RolloutStore.open(':memory:')
  readonly port = new RecordingPort(this.clock)
  engine: RolloutEngine
  readonly devices = new Map<string, SimDevice>()

  constructor (store?: RolloutStore) {
    if (store !== undefined) (this as { store: RolloutStore }).store = store
    this.engine = new RolloutEngine({ clock: this.clock, store: this.store, port: this.port })
  }

  static async create (): Promise<World> {
    const w = new World()
    await importSamples(w.store)
    return w
  }

  addDevice (id: string, opts: { group?: string; room?: string; installed?: string; model?: string } = {}): SimDevice {
    const installed = opts.installed ?? OLD
    const tags: Record<string, string> = { room: opts.room ?? 'kitchen' }
    if (opts.group !== undefined) tags.ADUGroup = opts.group
    const model = opts.model ?? 'xiaomi.speaker.l09a'
    const dev: SimDevice = {
      id, tags, model, installed, firmware: installed.split('/')[2] as string,
      agent: { deviceProperties: { manufacturer: 'Xiaomi', model }, compatPropertyNames: 'manufacturer,model', state: AgentState.Idle, installedUpdateId: idJson(installed) }
    }
    this.devices.set(id, dev)
    this.report(dev)
    return dev
  }

  addDevices (n: number, opts: Parameters<World['addDevice']>[1] = {}, prefix = 'spk'): SimDevice[] {
    return Array.from({ length: n }, (_, i) => this.addDevice(`${prefix}-${String(i).padStart(4, '0')}`, opts))
  }

  report (dev: SimDevice): void {
    this.engine.upsertDevice({ id: dev.id, tags: dev.tags, reported: { firmware: dev.firmware, deviceUpdate: { agent: dev.agent } }, online: true })
  }

  private offerOf (deviceId: string): Offer {
    const o = [...this.port.offers].reverse().find((x) => x.deviceId === deviceId)
    if (o === undefined) throw new Error(`no offer to ${deviceId}`)
    return o
  }

  /** The device installs what it was last offered, and reports success. */
  succeed (deviceId: string, update = NEW): void {
    const dev = this.devices.get(deviceId) as SimDevice
    const o = this.offerOf(deviceId)
    dev.installed = update
    dev.firmware = update.split('/')[2] as string
    dev.agent = { ...dev.agent, state: AgentState.Idle, workflow: { action: 3, id: o.deploymentId, ...(o.retryTimestamp === undefined ? {} : { retryTimestamp: o.retryTimestamp }) }, installedUpdateId: idJson(update), lastInstallResult: { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: '' } }
    this.report(dev)
  }

  /** The device reports a failure of its last offer. */
  fail (deviceId: string, erc = makeExtendedResultCode(ErcFacility.Install, ErcComponent.Handler, ErcCode.HandlerFailed), resultCode: number = ResultCode.Failure): void {
    const dev = this.devices.get(deviceId) as SimDevice
    const o = this.offerOf(deviceId)
    dev.agent = { ...dev.agent, state: AgentState.Failed, workflow: { action: 3, id: o.deploymentId, ...(o.retryTimestamp === undefined ? {} : { retryTimestamp: o.retryTimestamp }) }, lastInstallResult: { resultCode, extendedResultCode: erc, resultDetails: 'injected' } }
    this.report(dev)
  }

  /** Every device offered `deploymentId` and not yet answered succeeds. */
  succeedAll (deploymentId: string, update = NEW): number {
    let n = 0
    for (const r of this.engine.deviceRecords(deploymentId)) if (r.state === 'InProgress') { this.succeed(r.deviceId, update); n++ }
    return n
  }

  inProgress (deploymentId: string): string[] {
    return this.engine.deviceRecords(deploymentId).filter((r) => r.state === 'InProgress').map((r) => r.deviceId).sort()
  }
}
