/**
 * The rollout service: the deployment engine (engine.ts) and its store, on MQTT. It talks to devices only through
 * topics (core/topics.ts), never through code:
 *
 * | direction | topic | what |
 * | --- | --- | --- |
 * | in | `{p}/+/info` (retained) | a device's tags (its `ADUGroup`) |
 * | in | `{p}/+/state/reported` (retained) | its reported twin: `deviceUpdate.agent` and the properties target conditions read |
 * | out | `{p}/{id}/state/desired` (retained) | `{deviceUpdate: {service: {workflow, updateManifest, fileUrls}}}`: an offer, a retry, a cancel |
 * | in/out | `{p}/$bridge/rollout/fetch/{id}/{rid}` → `{p}/$bridge/rollout/deliveries/{id}/{rid}` | a device downloads a file |
 * | in/out | `{p}/$bridge/rollout/commands/{name}/{rid}` → `{p}/$bridge/rollout/replies/{rid}` | the request/reply API (`fleet rollout`) |
 * | out | `{p}/$bridge/rollout/deployments/{id}`, `{p}/$bridge/rollout/groups/{group}` (retained) | live status and compliance |
 *
 * Status topics are republished as things change, so any MQTT client watches a rollout as it happens: a deployment's
 * at most every `statusIntervalMs` (100 ms) of wall time, a group's compliance (which counts every device of the
 * group) at most every `complianceIntervalMs` (1 s), and both at once when a deployment's state, phase or wave changes
 * or an operator's request was handled. A change after a quiet spell goes out at once; the interval only coalesces
 * a burst of changes into one message per topic.
 */
import type { MqttClient } from 'mqtt'
import { systemClock, type Clock } from '../../core/clock.ts'
import { WorkflowAction, MQTT_FILE_URL_SCHEME, type ServiceRequest, type UpdateManifest, type UpdateManifestFile } from '../../core/device-update.ts'
import { FleetError, isFleetError, type Issue } from '../../core/errors.ts'
import { silentLogger, type Logger } from '../../core/logger.ts'
import { createMqttClient, endClient, isSubscriptionRefused, waitConnected, type BrokerTarget } from '../../core/mqtt-connect.ts'
import { createTopics, DEFAULT_PREFIX, type Topics } from '../../core/topics.ts'
import { RolloutEngine, type RolloutPort } from './engine.ts'
import { planImportTexts } from './manifest-import.ts'
import { updateKey } from './manifest.ts'
import type { Deployment, DeploymentInput, DeviceRecord } from './model.ts'
import { generatePayload, payloadSeed } from './payload.ts'
import { DEFAULT_DATA_DIR, RolloutStore, type StoredUpdate } from './store.ts'

export interface RolloutServiceOptions {
  readonly target: BrokerTarget
  readonly prefix?: string
  /** The data directory (default `.homefleet`); ignored when `store` is given. */
  readonly dataDir?: string
  readonly store?: RolloutStore
  /** The rollout clock (timeouts, soak, rate windows, schedules). Default: real time. */
  readonly clock?: Clock
  readonly logger?: Logger
  readonly clientId?: string
  /**
   * After subscribing, wait until no retained info or reported message arrived for this long (wall ms, at most
   * 20× as long) before the engine starts: it must have heard the fleet before it opens waves or resumes.
   */
  readonly settleMs?: number
  /** Republish a changed deployment status at most this often (wall ms). Default 100. */
  readonly statusIntervalMs?: number
  /** Republish a changed group compliance at most this often (wall ms). Default 1000. */
  readonly complianceIntervalMs?: number
  readonly connectTimeoutMs?: number
}

/** A reply on `{p}/$bridge/rollout/replies/{rid}`. */
export type RolloutReply =
  | { rid: string; command: string; ok: true; result: unknown }
  | { rid: string; command: string; ok: false; error: { code: string; message: string; issues?: readonly Issue[] } }

/**
 * Something the service found wrong with its surroundings that an operator must fix (it keeps running): logged as a
 * warning when found and listed by the `status` request (`fleet rollout status`).
 */
export interface ServiceWarning {
  /**
   * `RETAINED_DROPPED`: the broker did not deliver every retained info / reported twin on subscribe. Checked after
   * the retained burst of every connection (the start and each reconnect): a check that confirms it again updates
   * it in place, one that finds nothing dropped removes it.
   */
  readonly code: 'RETAINED_DROPPED'
  /** What the last check that confirmed it found. */
  readonly message: string
  /** Wall time it was first found (ISO 8601). */
  readonly at: string
  /** Wall time a check last confirmed it (ISO 8601). */
  readonly confirmedAt: string
  /** Which connection's retained burst that check followed: the first one (`start`) or a later one (`reconnect`). */
  readonly confirmedAfter: BurstAfter
  /** How many checks have confirmed it since it was first found. */
  readonly confirmations: number
}

/** A retained burst comes after the service's first connection to the broker or after a reconnect. */
export type BurstAfter = 'start' | 'reconnect'

/** How many of the devices heard on one channel only are asked for again to confirm the broker dropped the other. */
const DROP_SAMPLE = 8

/** An update's key as one topic level: `provider_name_version` (`_` appears in none of the three). */
export function topicKey (key: string): string {
  return key.replaceAll('/', '_')
}

interface Offer { manifest: string; fileUrls: Record<string, string> }

/**
 * What the service heard of one device: its tags and its reported twin, and on which channels (retained or live) it
 * heard them on the connection numbered `connection`; those four flags count as false on any other connection.
 */
interface DeviceView {
  tags: Record<string, unknown>
  reported: Record<string, unknown>
  connection: number
  info: boolean
  twin: boolean
  retainedInfo: boolean
  retainedTwin: boolean
}

/** Served file bytes kept in memory, at most this much in all (beyond it, a file is made again for each fetch). */
const FILE_CACHE_BYTES = 64 * 1024 * 1024

export class RolloutService {
  readonly engine: RolloutEngine
  readonly store: RolloutStore
  readonly topics: Topics
  private readonly client: MqttClient
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly ownStore: boolean
  private readonly views = new Map<string, DeviceView>()
  /** Connections to the broker accepted so far: 1 from the start, one more for each reconnect. */
  private connection = 0
  private connected = false
  private readonly settleMs: number
  /**
   * Retained info and reported messages delivered on this connection because of the service's own subscriptions
   * (retain flag set).
   */
  private retainedDelivered = 0
  private warningList: ServiceWarning[] = []
  private readonly offers = new Map<string, Offer>()
  /** Topic of a file → how to make its bytes. */
  private readonly files = new Map<string, () => Buffer>()
  private readonly fileCache = new Map<string, Buffer>()
  private fileCacheBytes = 0
  private readonly dirtyDeployments = new Set<string>()
  private readonly dirtyGroups = new Set<string>()
  private readonly published = new Map<string, string>()
  private readonly deploymentFlush: Coalescer
  private readonly groupFlush: Coalescer
  private lastRetained = Date.now()
  private stopped = false
  /**
   * Counters for benchmarks and tests: messages received and sent, and the same split by kind (in: info, reported,
   * command, fetch; out: desired (offers and cancels), delivery, reply, status).
   */
  readonly stats = {
    received: 0, sent: 0, offers: 0, cancels: 0, deliveries: 0, badPayloads: 0,
    receivedBy: { info: 0, reported: 0, command: 0, fetch: 0 },
    sentBy: { desired: 0, delivery: 0, reply: 0, status: 0 }
  }

  private constructor (options: RolloutServiceOptions, client: MqttClient, store: RolloutStore) {
    this.client = client
    this.store = store
    this.ownStore = options.store === undefined
    this.clock = options.clock ?? systemClock
    this.logger = (options.logger ?? silentLogger).child({ component: 'rollout' })
    this.topics = createTopics(options.prefix ?? DEFAULT_PREFIX)
    this.settleMs = options.settleMs ?? 300
    this.deploymentFlush = new Coalescer(options.statusIntervalMs ?? 100, () => { this.flushDeployments() })
    this.groupFlush = new Coalescer(options.complianceIntervalMs ?? 1000, () => { this.flushGroups() })
    const port: RolloutPort = {
      offer: (deviceId, d, r) => { this.sendOffer(deviceId, d, r) },
      cancel: (deviceId, id) => { this.sendCancel(deviceId, id) },
      changed: (d) => { this.markDeployment(d) },
      groupChanged: (g) => { this.dirtyGroups.add(g); this.groupFlush.mark(false) },
      log: (level, msg, fields) => { this.logger[level](fields ?? {}, msg) }
    }
    this.engine = new RolloutEngine({ clock: this.clock, store, port })
  }

  /**
   * Connect, subscribe, hear the fleet's retained state, then start the engine (which resumes what was active).
   * Rejects with FLEET_ERR_BROKER_* when the broker cannot be reached, FLEET_ERR_ROLLOUT_STORE for the data directory.
   */
  static async start (options: RolloutServiceOptions): Promise<RolloutService> {
    const store = options.store ?? RolloutStore.open(options.dataDir ?? DEFAULT_DATA_DIR)
    const client = createMqttClient(options.target, {
      clientId: options.clientId ?? `homefleet-rollout-${process.pid}-${Math.floor(Math.random() * 1e6)}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      // Every connection subscribes in hearFleet(), so that each one's retained burst is checked the same way.
      resubscribe: false
    })
    const service = new RolloutService(options, client, store)
    try {
      await waitConnected(client, options.target, options.connectTimeoutMs ?? 10_000)
      client.on('message', (topic, payload, packet) => { service.onMessage(topic, payload, packet.retain) })
      client.on('connect', () => { service.onReconnect() })
      client.on('close', () => { service.onClose() })
      client.on('error', (err) => { service.logger.debug({ error: err.message }, 'broker connection error') })
      await service.hearFleet('start')
      service.engine.start()
      for (const d of service.engine.list()) service.markDeployment(d)
      service.logger.info({ deployments: service.engine.list().length, devices: service.engine.knownDevices() }, 'rollout service started')
      return service
    } catch (err) {
      await service.stop()
      throw err
    }
  }

  /**
   * One connection's start: subscribe, hear the retained burst out, check that the broker delivered all of it
   * ({@link checkRetainedDelivery}). Runs on the first connection (from start(), which rejects if it fails) and on every
   * reconnect: the session is clean, so each connection subscribes anew and the broker sends the whole burst again.
   */
  private async hearFleet (after: BurstAfter): Promise<{ delivered: number }> {
    const connection = ++this.connection
    this.connected = true
    this.retainedDelivered = 0
    this.lastRetained = Date.now()
    const t = this.topics
    const filters = [t.filter('info'), t.filter('reported'), t.filter('rolloutCommand'), t.filter('rolloutFetch')]
    try {
      await this.client.subscribeAsync(filters, { qos: 1 })
    } catch (err) {
      if (isSubscriptionRefused(err)) throw new FleetError('FLEET_ERR_BROKER_REFUSED', `the broker refused the rollout service's subscriptions (${filters.join(', ')})`, { cause: err })
      throw err
    }
    await this.settle(this.settleMs)
    const delivered = this.retainedDelivered
    // A newer connection has its own burst to check; this one's is gone.
    if (connection !== this.connection || this.stopped) return { delivered }
    await this.checkRetainedDelivery(connection, after)
    return { delivered }
  }

  /** A later connection (MQTT.js reconnects on its own): subscribe again and check its burst, as at start. */
  private onReconnect (): void {
    if (this.stopped) return
    const heard = this.hearFleet('reconnect')
    const connection = this.connection
    this.logger.info({ connection }, 'reconnected to the broker: hearing the fleet\'s retained state again')
    heard.then(
      ({ delivered }) => {
        if (connection !== this.connection || this.stopped) return
        this.logger.info({ connection, delivered, devices: this.engine.knownDevices(), warnings: this.warningList.length }, 'heard the fleet\'s retained state again after reconnecting')
      },
      (err: unknown) => {
        if (!this.stopped) this.logger.error({ connection, error: (err as Error).message }, 'could not subscribe again after reconnecting to the broker')
      }
    )
  }

  private onClose (): void {
    // 'close' comes again for every failed reconnect attempt: say it once per connection lost.
    if (!this.connected || this.stopped) return
    this.connected = false
    this.logger.warn({ connection: this.connection }, 'lost the connection to the broker; reconnecting')
  }

  private async settle (quietMs: number): Promise<void> {
    const start = Date.now()
    for (;;) {
      const quiet = Date.now() - this.lastRetained
      if (this.stopped || quiet >= quietMs || Date.now() - start >= quietMs * 20) return
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, quietMs - quiet)))
    }
  }

  /**
   * Did the broker deliver every retained message this connection's subscriptions asked for? A device always retains
   * both its `info` and its reported twin, and a broker sends all retained messages matching a new subscription.
   * Mosquitto queues at most `max_queued_messages` (default 1,000) QoS 1 messages per client beyond the ones in flight
   * and drops the rest, retained ones sent on subscribe included, so with more than ~500 devices the service hears one
   * channel of some devices and nothing at all of others, and says nothing. The symptom is devices heard (retained)
   * on one channel only on this connection; it is confirmed, not guessed, by subscribing to the missing topic of a few
   * of them: if the broker then sends it, it held it all along and dropped it on the way. A device that never
   * retained the other message gets nothing back and raises no warning.
   *
   * The same check follows every connection's burst, the first and each reconnect's: a confirmed drop sets the
   * `RETAINED_DROPPED` warning (or updates the one there is: figures, time, count), a check that finds nothing
   * dropped clears it, since that burst gave the service every retained message again. A check that cannot ask (the
   * connection went meanwhile) leaves the warning as it is.
   */
  private async checkRetainedDelivery (connection: number, after: BurstAfter): Promise<void> {
    let infos = 0
    let twins = 0
    const oneSided: string[] = []
    for (const [id, v] of this.views) {
      if (v.connection !== connection) continue
      if (v.retainedInfo) infos++
      if (v.retainedTwin) twins++
      if (v.retainedInfo !== v.retainedTwin && v.info !== v.twin) oneSided.push(id)
    }
    if (oneSided.length === 0) { this.retainedDeliveryChecked(after, undefined); return }
    const delivered = this.retainedDelivered
    const sample = oneSided.slice(0, DROP_SAMPLE)
    const topics = sample.map((id) => ((this.views.get(id) as DeviceView).info ? this.topics.reported(id) : this.topics.info(id)))
    try {
      // Retained messages for a new subscription come before the broker's answer to the next packet (mosquitto
      // queues them while handling SUBSCRIBE), so once UNSUBACK is in they have arrived.
      await this.client.subscribeAsync(topics, { qos: 1 })
      await this.client.unsubscribeAsync(topics)
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'could not check the retained messages the broker delivered')
      return
    }
    if (connection !== this.connection || this.stopped) return
    const recovered = sample.filter((id) => { const v = this.views.get(id) as DeviceView; return v.connection === connection && v.info && v.twin })
    if (recovered.length === 0) { this.retainedDeliveryChecked(after, undefined); return }
    const message = `the broker dropped retained messages it owed the rollout service on subscribe${after === 'reconnect' ? ' after it reconnected' : ''}: it delivered ${delivered} ` +
      `(the info of ${infos} devices, the reported twins of ${twins}); ${oneSided.length} devices were heard on one channel only, ` +
      `and asked again for ${sample.length} of them the broker did hold the missing message of ${recovered.length} (${recovered.slice(0, 3).join(', ')}${recovered.length > 3 ? ', …' : ''}). ` +
      'What it did not deliver stays unknown to the service until the device publishes it again: a device without its reported twin ' +
      'has no update agent to offer updates to, one without its info is in no group. ' +
      'Mosquitto keeps at most max_queued_messages (default 1000) QoS 1 messages per client beyond max_inflight_messages and drops the rest, ' +
      'retained messages sent on subscribe included: set "max_queued_messages 0" (or a value above twice the number of devices) in mosquitto.conf, ' +
      'then restart mosquitto and the rollout service'
    this.retainedDeliveryChecked(after, { message, fields: { delivered, infos, twins, oneSided: oneSided.length, asked: sample.length, recovered: recovered.length } })
  }

  /** Set, update or clear the `RETAINED_DROPPED` warning after a check: `dropped` undefined when nothing was. */
  private retainedDeliveryChecked (after: BurstAfter, dropped: { message: string; fields: Record<string, number> } | undefined): void {
    const previous = this.warningList.find((w) => w.code === 'RETAINED_DROPPED')
    const others = this.warningList.filter((w) => w.code !== 'RETAINED_DROPPED')
    if (dropped === undefined) {
      if (previous === undefined) return
      this.warningList = others
      this.logger.info({ code: 'RETAINED_DROPPED', after, foundAt: previous.at, confirmedAt: previous.confirmedAt },
        'the broker delivered every retained message the rollout service checked for after it reconnected: the RETAINED_DROPPED warning is cleared')
      return
    }
    const now = new Date().toISOString()
    const warning: ServiceWarning = {
      code: 'RETAINED_DROPPED',
      message: dropped.message,
      at: previous?.at ?? now,
      confirmedAt: now,
      confirmedAfter: after,
      confirmations: (previous?.confirmations ?? 0) + 1
    }
    this.warningList = [...others, warning]
    this.logger.warn({ code: 'RETAINED_DROPPED', after, confirmations: warning.confirmations, ...dropped.fields }, dropped.message)
  }

  /** What the service found wrong with its surroundings (see {@link ServiceWarning}); empty when all is well. */
  get warnings (): readonly ServiceWarning[] { return this.warningList }

  // ---- the programmatic API (the CLI reaches it over MQTT, see handleCommand) ----

  async importManifests (sources: readonly { file: string; text: string }[]): Promise<{ imported: string[]; unchanged: string[] }> {
    const plan = await planImportTexts(sources, this.store)
    this.store.saveImport(plan, this.clock.now())
    this.engine.updatesChanged()
    return { imported: plan.updates.map((u) => u.key), unchanged: [...plan.unchanged] }
  }

  deploy (input: DeploymentInput): ReturnType<RolloutEngine['status']> {
    const d = this.engine.deploy(input)
    return this.engine.status(d.spec.id)
  }

  /** Answer one request of the API; every failure is a FleetError with a code. */
  async request (name: string, args: Record<string, unknown>): Promise<unknown> {
    const id = (): string => {
      if (typeof args.id !== 'string' || args.id === '') throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `${name} needs the deployment id: {"id": "..."}`)
      return args.id
    }
    switch (name) {
      case 'import': {
        const list = args.manifests
        if (!Array.isArray(list) || list.some((m) => typeof (m as { text?: unknown }).text !== 'string')) throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', 'import needs {"manifests": [{"file", "text"}]}')
        return this.importManifests((list as { file?: unknown; text: string }[]).map((m, i) => ({ file: typeof m.file === 'string' ? m.file : `manifest ${i + 1}`, text: m.text })))
      }
      case 'deploy': return this.deploy(args as unknown as DeploymentInput)
      case 'pause': return this.engine.status(this.engine.pause(id()).spec.id)
      case 'resume': return this.engine.status(this.engine.resume(id()).spec.id)
      case 'cancel': return this.engine.status(this.engine.cancel(id()).spec.id)
      case 'retry': return this.engine.status(this.engine.retry(id()).spec.id)
      case 'status': {
        if (typeof args.id === 'string') {
          const status = this.engine.status(args.id)
          const withWarnings = this.warningList.length === 0 ? status : { ...status, warnings: this.warningList }
          return args.devices === true ? { ...withWarnings, devices: this.engine.deviceRecords(args.id) } : withWarnings
        }
        return {
          warnings: this.warningList,
          deployments: this.engine.list().map((d) => summary(this.engine.status(d.spec.id))),
          groups: this.engine.groups().map((g) => this.engine.compliance(g)),
          updates: this.store.listUpdates().map((u) => ({ key: u.key, deployable: u.manifest.isDeployable, files: u.files.length, importedAt: u.importedAt }))
        }
      }
      default:
        throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `unknown rollout request ${JSON.stringify(name)} (import, deploy, pause, resume, cancel, retry, status)`)
    }
  }

  // ---- MQTT in ----

  private onMessage (topic: string, payload: Buffer, retained: boolean): void {
    this.stats.received++
    const parsed = this.topics.parse(topic)
    if (parsed === undefined) return
    try {
      switch (parsed.channel) {
        case 'info': this.stats.receivedBy.info++; this.lastRetained = Date.now(); this.onInfo(parsed.deviceId, payload, retained); break
        case 'reported': this.stats.receivedBy.reported++; this.lastRetained = Date.now(); this.onReported(parsed.deviceId, payload, retained); break
        case 'rolloutCommand': this.stats.receivedBy.command++; this.onCommand(parsed.name, parsed.rid, payload); break
        case 'rolloutFetch': this.stats.receivedBy.fetch++; this.onFetch(parsed.agentId, parsed.rid, payload); break
        default: break
      }
    } catch (err) {
      // A bad payload or a bug on one message: logged, and the service keeps running.
      this.logger.error({ topic, error: (err as Error).message }, 'rollout message failed')
    }
  }

  private parseJson (topic: string, payload: Buffer): Record<string, unknown> | undefined {
    if (payload.length === 0) return undefined
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'))
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
    } catch { /* reported below */ }
    this.stats.badPayloads++
    this.logger.warn({ topic }, 'payload is not a JSON object; ignored')
    return undefined
  }

  private view (id: string): DeviceView {
    let v = this.views.get(id)
    if (v === undefined) { v = { tags: {}, reported: {}, connection: 0, info: false, twin: false, retainedInfo: false, retainedTwin: false }; this.views.set(id, v) }
    if (v.connection !== this.connection) { v.connection = this.connection; v.info = false; v.twin = false; v.retainedInfo = false; v.retainedTwin = false }
    return v
  }

  private onInfo (id: string, payload: Buffer, retained: boolean): void {
    const info = this.parseJson(this.topics.info(id), payload)
    if (info === undefined) return
    const v = this.view(id)
    v.info = true
    if (retained) { v.retainedInfo = true; this.retainedDelivered++ }
    v.tags = typeof info.tags === 'object' && info.tags !== null ? info.tags as Record<string, unknown> : {}
    this.engine.upsertDevice({ id, tags: v.tags, reported: v.reported, online: true })
  }

  private onReported (id: string, payload: Buffer, retained: boolean): void {
    const reported = this.parseJson(this.topics.reported(id), payload)
    if (reported === undefined) return
    const v = this.view(id)
    v.twin = true
    if (retained) { v.retainedTwin = true; this.retainedDelivered++ }
    v.reported = reported
    this.engine.upsertDevice({ id, tags: v.tags, reported, online: true })
  }

  private onCommand (name: string, rid: string, payload: Buffer): void {
    const replyTopic = this.topics.rolloutReply(rid)
    const answer = (reply: RolloutReply): void => { this.publish(replyTopic, JSON.stringify(reply), false, 'reply') }
    let args: Record<string, unknown>
    try {
      const v: unknown = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'))
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object')
      args = v as Record<string, unknown>
    } catch (err) {
      this.stats.badPayloads++
      this.logger.warn({ command: name, rid }, 'rollout request is not a JSON object')
      answer({ rid, command: name, ok: false, error: { code: 'BAD_REQUEST', message: `payload is not a JSON object: ${(err as Error).message}` } })
      return
    }
    this.request(name, args).then(
      (result) => { answer({ rid, command: name, ok: true, result }) },
      (err: unknown) => {
        const e = isFleetError(err) ? err : new FleetError('FLEET_ERR_INTERNAL', (err as Error).message, { cause: err })
        if (e.code === 'FLEET_ERR_INTERNAL') this.logger.error({ command: name, error: e.message }, 'rollout request failed')
        else this.logger.info({ command: name, code: e.code, error: e.message }, 'rollout request refused')
        answer({ rid, command: name, ok: false, error: { code: e.code, message: e.message, ...(e.issues.length === 0 ? {} : { issues: e.issues }) } })
      }
    ).finally(() => { this.deploymentFlush.mark(true); this.groupFlush.mark(true) })
  }

  private onFetch (deviceId: string, rid: string, payload: Buffer): void {
    const req = this.parseJson(this.topics.build('rolloutFetch', deviceId, rid), payload)
    const topic = typeof req?.url === 'string' ? req.url : ''
    let bytes = this.fileBytes(topic)
    if (bytes === undefined) {
      this.logger.warn({ deviceId, url: topic }, 'a device asked for a file the service does not have')
      bytes = Buffer.alloc(0)
    }
    this.stats.deliveries++
    this.publish(this.topics.build('rolloutDelivery', deviceId, rid), bytes, false, 'delivery')
  }

  // ---- MQTT out: offers, cancels, files ----

  private sendOffer (deviceId: string, d: Deployment, r: DeviceRecord): void {
    const offer = this.offerFor(d.spec.update)
    const service: ServiceRequest = {
      workflow: { action: WorkflowAction.ProcessDeployment, id: d.spec.id, ...(r.retryTimestamp === undefined ? {} : { retryTimestamp: r.retryTimestamp }) },
      updateManifest: offer.manifest,
      updateManifestSignature: '',
      fileUrls: offer.fileUrls
    }
    this.stats.offers++
    this.writeDesired(deviceId, service)
  }

  private sendCancel (deviceId: string, id: string): void {
    this.stats.cancels++
    this.writeDesired(deviceId, { workflow: { action: WorkflowAction.Cancel, id } })
  }

  /**
   * The desired twin is retained, so a device that is offline now gets its offer when it connects. No `$version`:
   * other controllers write desired properties too, and a version from one writer would make the device ignore the
   * others'; the agent tells a new offer from a replay by workflow id and retryTimestamp instead.
   */
  private writeDesired (deviceId: string, service: ServiceRequest): void {
    this.publish(this.topics.desired(deviceId), JSON.stringify({ deviceUpdate: { service } }), true, 'desired')
  }

  /** ADU's update manifest for devices (files keyed by id, children as detached manifests), built once per update. */
  private offerFor (key: string): Offer {
    const cached = this.offers.get(key)
    if (cached !== undefined) return cached
    const update = this.mustUpdate(key)
    const fileUrls: Record<string, string> = {}
    const build = (u: StoredUpdate, idPrefix: string, children: StoredUpdate[]): UpdateManifest => {
      const m = u.manifest
      const files: Record<string, UpdateManifestFile> = {}
      const idOf = new Map<string, string>()
      u.files.forEach((f, i) => {
        const id = `${idPrefix}f${i}`
        idOf.set(f.filename, id)
        files[id] = { fileName: f.filename, sizeInBytes: f.sizeInBytes, hashes: { sha256: f.servedSha256 as string } }
        const topic = this.topics.rolloutFile(topicKey(u.key), String(i))
        fileUrls[id] = `${MQTT_FILE_URL_SCHEME}${topic}`
        this.files.set(topic, () => this.store.fileContent(u.key, f.filename) ?? generatePayload(payloadSeed(u.key, f.filename), f.sizeInBytes))
      })
      let child = 0
      const steps = m.instructions.steps.map((s) => {
        if (s.type === 'inline') return { type: 'inline' as const, handler: s.handler, files: s.files.map((n) => idOf.get(n) as string), ...(s.handlerProperties === undefined ? {} : { handlerProperties: { ...s.handlerProperties } }) }
        const c = children[child]
        const cid = `c${child++}`
        if (c !== undefined) {
          const text = JSON.stringify(build(c, `${cid}`, []))
          const topic = this.topics.rolloutFile(topicKey(c.key), 'manifest')
          fileUrls[`${cid}m`] = `${MQTT_FILE_URL_SCHEME}${topic}`
          this.files.set(topic, () => Buffer.from(text))
        }
        return { type: 'reference' as const, updateId: { ...s.updateId }, detachedManifestFileId: `${cid}m` }
      })
      return { manifestVersion: m.manifestVersion, updateId: { ...m.updateId }, compatibility: m.compatibility.map((c) => ({ ...c })), instructions: { steps }, files, createdDateTime: m.createdDateTime }
    }
    const children = update.manifest.instructions.steps.flatMap((s) => (s.type === 'reference' ? [this.mustUpdate(updateKey(s.updateId))] : []))
    const offer = { manifest: JSON.stringify(build(update, '', children)), fileUrls }
    this.offers.set(key, offer)
    return offer
  }

  private mustUpdate (key: string): StoredUpdate {
    const u = this.store.getUpdate(key)
    if (u === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_NOT_FOUND', `no update ${key}`)
    return u
  }

  /**
   * The bytes behind a file topic. Made once (read from the store or generated) and kept, up to
   * {@link FILE_CACHE_BYTES} in all: every device of a rollout fetches the same files, and generating a payload
   * costs a SHA-256 per 32 bytes.
   */
  private fileBytes (topic: string): Buffer | undefined {
    const cached = this.fileCache.get(topic)
    if (cached !== undefined) return cached
    let make = this.files.get(topic)
    if (make === undefined) {
      // After a restart the offers of live deployments are rebuilt on first use; a fetch may come first.
      for (const d of this.engine.list()) this.offerFor(d.spec.update)
      make = this.files.get(topic)
    }
    const bytes = make?.()
    if (bytes !== undefined && this.fileCacheBytes + bytes.length <= FILE_CACHE_BYTES) {
      this.fileCache.set(topic, bytes)
      this.fileCacheBytes += bytes.length
    }
    return bytes
  }

  // ---- status topics ----

  private markDeployment (d: Deployment): void {
    this.dirtyDeployments.add(d.spec.id)
    this.dirtyGroups.add(d.spec.groupId)
    const key = `${d.state}/${d.phase}/${d.currentWave}`
    // A change of state, phase or wave goes out at once; counts within a wave at the status interval.
    const now = this.published.get(d.spec.id) !== key
    this.deploymentFlush.mark(now)
    this.groupFlush.mark(now)
  }

  private flushDeployments (): void {
    if (this.stopped) return
    for (const id of this.dirtyDeployments) {
      const status = this.engine.status(id)
      this.published.set(id, `${status.state}/${status.phase}/${status.currentWave}`)
      this.publish(this.topics.rolloutDeployment(id), JSON.stringify(status), true, 'status')
    }
    this.dirtyDeployments.clear()
  }

  private flushGroups (): void {
    if (this.stopped) return
    for (const g of this.dirtyGroups) {
      this.publish(this.topics.rolloutGroup(encodeURIComponent(g)), JSON.stringify(this.engine.compliance(g)), true, 'status')
    }
    this.dirtyGroups.clear()
  }

  private publish (topic: string, payload: string | Buffer, retain: boolean, kind: keyof RolloutService['stats']['sentBy']): void {
    if (this.stopped) return
    this.stats.sent++
    this.stats.sentBy[kind]++
    this.client.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err instanceof Error && !this.stopped) this.logger.warn({ topic, error: err.message }, 'publish failed')
    })
  }

  /** Publish what is pending, stop timers, disconnect, close the store (if the service opened it). */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.deploymentFlush.stop(true)
    this.groupFlush.stop(true)
    this.engine.stop()
    this.stopped = true
    await endClient(this.client)
    if (this.ownStore) this.store.close()
  }
}

function summary (s: ReturnType<RolloutEngine['status']>): Record<string, unknown> {
  return { id: s.id, groupId: s.groupId, update: s.update, state: s.state, phase: s.phase, currentWave: s.currentWave, counts: s.counts, failureRate: s.failureRate, ...(s.halt === undefined ? {} : { halt: s.halt }) }
}

/**
 * Coalesces changes into calls of `run`: the first change after a quiet spell runs it at once (on the next turn of
 * the event loop), later ones at most once per `intervalMs`; `mark(true)` runs it at once whatever the interval.
 */
class Coalescer {
  private timer: NodeJS.Timeout | undefined
  private last = Number.NEGATIVE_INFINITY
  private stopped = false

  constructor (private readonly intervalMs: number, private readonly run: () => void) {}

  mark (now: boolean): void {
    if (this.stopped) return
    if (now && this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    if (this.timer !== undefined) return
    const wait = now ? 0 : Math.max(0, this.last + this.intervalMs - Date.now())
    this.timer = setTimeout(() => { this.fire() }, wait)
  }

  private fire (): void {
    this.timer = undefined
    this.last = Date.now()
    this.run()
  }

  /** Stop; with `flush`, run once more if a change is pending. */
  stop (flush: boolean): void {
    const pending = this.timer !== undefined
    if (pending) clearTimeout(this.timer)
    this.timer = undefined
    this.stopped = true
    if (flush && pending) this.run()
  }
}
