/**
 * The rollout service over real MQTT: an embedded broker on port 0, the service on a temporary data directory with a
 * fast ScaledClock, the CLI's client, and stand-in devices (plain MQTT.js clients) that answer offers the way an
 * ADU agent does, each with its own script. Every wait is for a message, with a time-out that names what it waited for.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { ScaledClock } from '../../core/clock.ts'
import { AgentState, ResultCode, type AgentReport, type ServiceRequest, type UpdateManifest } from '../../core/device-update.ts'
import { createTopics } from '../../core/topics.ts'
import { RolloutClient } from '../../bridge/rollout/client.ts'
import type { DeploymentStatus } from '../../bridge/rollout/engine.ts'
import { RolloutService, type RolloutServiceOptions } from '../../bridge/rollout/service.ts'
import { connectClient } from '../helpers/mqtt.ts'
import type { Teardown } from '../helpers/teardown.ts'

export const SAMPLES = new URL('../../docs/examples/updates/', import.meta.url)
export const sampleFiles = (): string[] => readdirSync(SAMPLES).filter((f) => f.endsWith('.json')).map((f) => new URL(f, SAMPLES).pathname)
export const sampleTexts = (): { file: string; text: string }[] => sampleFiles().map((file) => ({ file, text: readFileSync(file, 'utf8') }))

/** Reject after `ms` with a message naming what was awaited. */
export function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })
  return Promise.race([p, t]).finally(() => { clearTimeout(timer) })
}

export type Script = 'succeed' | 'fail' | 'hang' | ((attempt: number) => 'succeed' | 'fail' | 'hang')

/** A device that speaks the ADU twin shapes: answers offers by script, downloads and hashes the files for real. */
export class StandInDevice {
  readonly offers: ServiceRequest[] = []
  installed: string
  attempts = 0
  private agent: AgentReport

  constructor (readonly id: string, private readonly client: MqttClient, private readonly prefix: string, installed: string, private readonly tags: Record<string, string>, public script: Script, private readonly model = 'xiaomi.speaker.l09a') {
    this.installed = installed
    this.agent = { deviceProperties: { manufacturer: 'Xiaomi', model }, compatPropertyNames: 'manufacturer,model', state: AgentState.Idle, installedUpdateId: idJson(installed) }
  }

  private get topics (): ReturnType<typeof createTopics> { return createTopics(this.prefix) }

  async start (): Promise<void> {
    const t = this.topics
    this.client.on('message', (topic, payload) => { this.onMessage(topic, payload) })
    await this.client.subscribeAsync([t.desired(this.id), t.filter('rolloutDelivery', this.id)], { qos: 1 })
    await this.client.publishAsync(t.info(this.id), JSON.stringify({ id: this.id, kind: 'speaker', model: this.model, tags: this.tags }), { qos: 1, retain: true })
    await this.publishReported()
  }

  private publishReported (): Promise<unknown> {
    return this.client.publishAsync(this.topics.reported(this.id), JSON.stringify({ firmware: this.installed.split('/')[2], deviceUpdate: { agent: this.agent } }), { qos: 1, retain: true })
  }

  private deliveries = new Map<string, (b: Buffer) => void>()
  private seq = 0

  private onMessage (topic: string, payload: Buffer): void {
    const parsed = this.topics.parse(topic)
    if (parsed?.channel === 'rolloutDelivery') { this.deliveries.get(parsed.rid)?.(payload); return }
    if (parsed?.channel !== 'desired' || payload.length === 0) return
    const service = (JSON.parse(payload.toString('utf8')) as { deviceUpdate: { service: ServiceRequest } }).deviceUpdate.service
    this.offers.push(service)
    if (service.workflow.action !== 3) {
      if (this.agent.workflow?.id === service.workflow.id && this.agent.state === AgentState.DeploymentInProgress) {
        this.agent = { ...this.agent, state: AgentState.Failed, lastInstallResult: { resultCode: ResultCode.Cancelled, extendedResultCode: 0, resultDetails: 'cancelled' } }
        this.background(this.publishReported())
      }
      return
    }
    this.background(this.process(service))
  }

  /**
   * Work the stand-in does on its own (an offer in progress, a fetch): teardown closes its client while such work may
   * still be pending, which is not a failure; any other rejection stays unhandled, so the test run reports it.
   */
  private background (work: Promise<unknown>): void {
    void work.catch((err: unknown) => {
      if (this.client.disconnecting || !this.client.connected) return
      throw err
    })
  }

  private fetch (url: string): Promise<Buffer> {
    const rid = `r${++this.seq}`
    return new Promise((resolve) => {
      this.deliveries.set(rid, resolve)
      this.background(this.client.publishAsync(this.topics.build('rolloutFetch', this.id, rid), JSON.stringify({ url: url.slice('mqtt:'.length) }), { qos: 1 }))
    })
  }

  private async process (service: ServiceRequest): Promise<void> {
    this.attempts++
    const script = typeof this.script === 'function' ? this.script(this.attempts) : this.script
    const workflow = { action: 3, id: service.workflow.id, ...(service.workflow.retryTimestamp === undefined ? {} : { retryTimestamp: service.workflow.retryTimestamp }) }
    this.agent = { ...this.agent, state: AgentState.DeploymentInProgress, workflow }
    await this.publishReported()
    if (script === 'hang') return
    const manifest = JSON.parse(service.updateManifest as string) as UpdateManifest
    if (script === 'succeed') {
      // Download and hash every inline file for real.
      for (const [id, f] of Object.entries(manifest.files)) {
        const bytes = await this.fetch((service.fileUrls as Record<string, string>)[id] as string)
        const digest = createHash('sha256').update(bytes).digest('base64')
        if (digest !== f.hashes.sha256 || bytes.length !== f.sizeInBytes) throw new Error(`${this.id}: ${f.fileName} hash/size mismatch`)
      }
      const { provider, name, version } = manifest.updateId
      this.installed = `${provider}/${name}/${version}`
      this.agent = { ...this.agent, state: AgentState.Idle, installedUpdateId: idJson(this.installed), lastInstallResult: { resultCode: ResultCode.ApplySuccess, extendedResultCode: 0, resultDetails: '' } }
    } else {
      this.agent = { ...this.agent, state: AgentState.Failed, lastInstallResult: { resultCode: ResultCode.Failure, extendedResultCode: 0x40200030, resultDetails: 'scripted failure' } }
    }
    await this.publishReported()
  }
}

function idJson (key: string): string {
  const [provider, name, version] = key.split('/')
  return JSON.stringify({ provider, name, version })
}

export interface World {
  broker: EmbeddedBroker
  url: string
  dataDir: string
  prefix: string
  clock: ScaledClock
  service: RolloutService
  client: RolloutClient
  teardown: Teardown
  devices: StandInDevice[]
  addDevices (n: number, opts?: { installed?: string; group?: string; room?: string; script?: Script; idPrefix?: string }): Promise<StandInDevice[]>
  restartService (): Promise<RolloutService>
  /** Resolve with the deployment's retained status once `until` holds for it. */
  waitStatus (id: string, until: (s: DeploymentStatus) => boolean, what: string, ms?: number): Promise<DeploymentStatus>
}

let worldSeq = 0

export async function startWorld (teardown: Teardown, options: { speed?: number; service?: Partial<RolloutServiceOptions> } = {}): Promise<World> {
  const broker = teardown.add(await createBroker({ port: 0, host: '127.0.0.1' }), (b) => b.close())
  const url = broker.url as string
  const dataDir = teardown.add(mkdtempSync(join(tmpdir(), 'homefleet-rollout-')), (d) => { rmSync(d, { recursive: true, force: true }) })
  const prefix = `rw${++worldSeq}`
  const clock = new ScaledClock(options.speed ?? 60)
  const startService = async (): Promise<RolloutService> => {
    const s = await RolloutService.start({ target: { url }, prefix, dataDir, clock, settleMs: 100, statusIntervalMs: 20, ...options.service })
    teardown.add(s, (x) => x.stop())
    return s
  }
  const client = teardown.add(await RolloutClient.connect({ target: { url }, prefix }), (c) => c.close())
  const world: World = {
    broker, url, dataDir, prefix, clock, client, teardown, devices: [],
    service: undefined as unknown as RolloutService,
    async addDevices (n, opts = {}) {
      const out: StandInDevice[] = []
      for (let i = 0; i < n; i++) {
        const id = `${opts.idPrefix ?? 'spk'}-${world.devices.length}`
        const mqtt = teardown.client(await connectClient(url, { clientId: `${prefix}-${id}` }))
        const tags: Record<string, string> = { room: opts.room ?? 'kitchen', ...(opts.group === undefined ? {} : { ADUGroup: opts.group }) }
        const d = new StandInDevice(id, mqtt, prefix, opts.installed ?? 'Xiaomi/speaker-l09a/1.4.2', tags, opts.script ?? 'succeed')
        await d.start()
        world.devices.push(d)
        out.push(d)
      }
      return out
    },
    async restartService () {
      await world.service.stop()
      world.service = await startService()
      return world.service
    },
    async waitStatus (id, until, what, ms = 20_000) {
      let found: (s: DeploymentStatus) => void = () => undefined
      const hit = new Promise<DeploymentStatus>((resolve) => { found = resolve })
      const stop = await client.watchDeployment(id, (s) => { if (until(s)) found(s) })
      try {
        return await within(hit, ms, `deployment ${id}: ${what}`)
      } finally {
        await stop()
      }
    }
  }
  world.service = await startService()
  return world
}
