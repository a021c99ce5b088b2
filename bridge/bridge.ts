/**
 * The bridge process: one MQTT client that learns the home ({@link HomeModel}), commands devices through core's
 * Commander, and runs the bridge services (today: voice) under `{p}/$bridge/`. It announces itself on the retained
 * `{p}/$bridge/status` (`online`, with `offline` as its last will) so clients can tell whether Cortana is listening.
 *
 * `fleet bridge` runs it as its own process; `fleet voice say` runs one in-process without serving requests.
 */
import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { Commander } from '../core/commander.ts'
import { FleetError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import { createMqttClient, endClient, isSubscriptionRefused, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'
import { createTopics, DEFAULT_PREFIX, STATUS_OFFLINE, STATUS_ONLINE, type Topics } from '../core/topics.ts'
import { HomeModel } from './home.ts'
import { createRecognizer } from './voice/index.ts'
import { VoiceService } from './voice/service.ts'

export interface BridgeOptions {
  target: BrokerTarget
  prefix?: string
  /** Serve `{p}/$bridge/voice/requests/+` and announce `{p}/$bridge/status` (default true). */
  serve?: boolean
  /** Wait this long for each device's reply (default 3 s). */
  commandTimeoutMs?: number
  /** Give up connecting after this long (default 10 s): FLEET_ERR_BROKER_UNREACHABLE. */
  connectTimeoutMs?: number
  logger?: Logger
  clientId?: string
  /**
   * Start-up: the home counts as learned once no retained device message has arrived for this long after the
   * subscription is live (default 100 ms; at most 5 s in all). Devices that join later are learned live.
   */
  settleMs?: number
}

export class Bridge {
  readonly topics: Topics
  readonly home: HomeModel
  readonly voice: VoiceService
  readonly commander: Commander
  private readonly client: MqttClient
  private readonly serve: boolean
  private readonly logger: Logger
  private readonly syncRid = `sync-${randomBytes(6).toString('hex')}`
  private synced: (() => void) | undefined
  private homeMessages = 0
  private readonly settleMs: number
  private stopped = false

  private constructor (client: MqttClient, options: BridgeOptions) {
    this.client = client
    this.topics = createTopics(options.prefix ?? DEFAULT_PREFIX)
    this.serve = options.serve ?? true
    this.settleMs = options.settleMs ?? 100
    this.logger = options.logger ?? silentLogger
    this.home = new HomeModel(this.topics)
    const commandTimeoutMs = options.commandTimeoutMs ?? 3000
    this.commander = new Commander(client, this.topics, commandTimeoutMs)
    this.voice = new VoiceService({
      client, topics: this.topics, home: this.home, commander: this.commander,
      recognizer: createRecognizer({ devices: [] }), logger: this.logger, commandTimeoutMs
    })
    client.on('message', this.onMessage)
  }

  /** One handler for every message: the home's topics, voice requests, and our own sync marker. */
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (this.home.handle(topic, payload)) { this.homeMessages++; return }
    const t = this.topics.parse(topic)
    if (t?.channel === 'voiceRequest' && this.serve) this.voice.handleRequest(t.rid, payload)
    else if (t?.channel === 'voiceAnswer' && t.rid === this.syncRid) this.synced?.()
  }

  /**
   * Connect, subscribe, and resolve once the retained home has arrived: after the SUBACK the bridge publishes a
   * marker to itself and, once it is back, waits for the retained messages to stop coming ({@link BridgeOptions.settleMs}).
   */
  static async start (options: BridgeOptions): Promise<Bridge> {
    const topics = createTopics(options.prefix ?? DEFAULT_PREFIX)
    const serve = options.serve ?? true
    const client = createMqttClient(options.target, {
      clientId: options.clientId ?? `homefleet-bridge-${randomBytes(4).toString('hex')}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
      ...(serve ? { will: { topic: topics.bridgeStatus(), payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true } } : {})
    })
    client.on('error', () => { /* reconnects; waitConnected reports the first failure */ })
    const bridge = new Bridge(client, options)
    try {
      await waitConnected(client, options.target, options.connectTimeoutMs ?? 10_000)
      const filters = [...bridge.home.filters(), topics.voiceAnswer(bridge.syncRid), ...(serve ? [topics.filter('voiceRequest')] : [])]
      await client.subscribeAsync(filters, { qos: 1 }).catch((err: unknown) => {
        throw isSubscriptionRefused(err)
          ? new FleetError('FLEET_ERR_BROKER_REFUSED', `the broker refused the bridge's subscriptions (${filters.join(', ')})`, { cause: err })
          : new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot subscribe: ${(err as Error).message}`, { cause: err })
      })
      await bridge.sync()
      if (serve) await client.publishAsync(topics.bridgeStatus(), STATUS_ONLINE, { qos: 1, retain: true })
      bridge.logger.info({ devices: bridge.home.size, serve }, 'bridge ready')
      return bridge
    } catch (err) {
      await bridge.stop()
      throw err
    }
  }

  private sync (): Promise<void> {
    const settleMs = this.settleMs
    return new Promise((resolve, reject) => {
      let quiet: NodeJS.Timeout | undefined
      let last = this.homeMessages
      const done = (err?: Error): void => {
        clearTimeout(cap)
        clearInterval(quiet)
        this.synced = undefined
        if (err === undefined) resolve(); else reject(err)
      }
      const cap = setTimeout(() => { done() }, 5000)
      // After the marker, wait until the home has been quiet for `settleMs`: a broker may stream a big retained set
      // after the SUBACK and the marker alike (aedes does), so the marker alone only proves the subscription is live.
      this.synced = () => {
        quiet = setInterval(() => {
          if (this.homeMessages === last) done()
          last = this.homeMessages
        }, settleMs)
      }
      this.client.publishAsync(this.topics.voiceAnswer(this.syncRid), '{}', { qos: 1 }).catch((err: unknown) => {
        done(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot publish: ${(err as Error).message}`, { cause: err }))
      })
    })
  }

  /** Say `offline` (when serving), stop the services and close the connection. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.voice.stop()
    this.commander.close()
    this.client.off('message', this.onMessage)
    if (this.serve && this.client.connected) {
      await this.client.publishAsync(this.topics.bridgeStatus(), STATUS_OFFLINE, { qos: 1, retain: true }).catch(() => undefined)
    }
    await endClient(this.client, !this.client.connected)
  }
}
