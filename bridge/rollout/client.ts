/**
 * The client side of the rollout service's request/reply API (`{p}/$bridge/rollout/commands/{name}/{rid}` →
 * `{p}/$bridge/rollout/replies/{rid}`), and a watcher of its retained status topics. `fleet rollout` is a thin
 * wrapper over this; scenario steps and tests use it too.
 */
import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { ERROR_CODES, FleetError, type FleetErrorCode, type Issue } from '../../core/errors.ts'
import { createMqttClient, endClient, isSubscriptionRefused, waitConnected, type BrokerTarget } from '../../core/mqtt-connect.ts'
import { createTopics, DEFAULT_PREFIX, type Topics } from '../../core/topics.ts'
import type { DeploymentStatus } from './engine.ts'
import type { RolloutReply } from './service.ts'

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; name: string }

export interface RolloutClientOptions {
  readonly target: BrokerTarget
  readonly prefix?: string
  readonly connectTimeoutMs?: number
  /** How long to wait for the service's reply. Default 10 s. */
  readonly timeoutMs?: number
}

export class RolloutClient {
  readonly topics: Topics
  private readonly client: MqttClient
  private readonly pending = new Map<string, Pending>()
  private readonly base = randomBytes(4).toString('hex')
  private seq = 0
  private readonly timeoutMs: number
  private readonly watchers = new Set<(topic: string, payload: Buffer, retained: boolean) => void>()

  private constructor (client: MqttClient, topics: Topics, timeoutMs: number) {
    this.client = client
    this.topics = topics
    this.timeoutMs = timeoutMs
    client.on('message', (topic, payload, packet) => { this.onMessage(topic, payload, packet.retain) })
  }

  /** Connect and subscribe to replies: FLEET_ERR_BROKER_UNREACHABLE / _REFUSED (exit 3) when that fails. */
  static async connect (options: RolloutClientOptions): Promise<RolloutClient> {
    const topics = createTopics(options.prefix ?? DEFAULT_PREFIX)
    const client = createMqttClient(options.target, { clean: true, reconnectPeriod: 0, connectTimeout: options.connectTimeoutMs ?? 5000 })
    const rc = new RolloutClient(client, topics, options.timeoutMs ?? 10_000)
    try {
      await waitConnected(client, options.target, options.connectTimeoutMs ?? 5000)
      await rc.subscribe(topics.filter('rolloutReply'))
      return rc
    } catch (err) {
      await endClient(client, true)
      throw err
    }
  }

  private async subscribe (filter: string): Promise<void> {
    try {
      await this.client.subscribeAsync(filter, { qos: 1 })
    } catch (err) {
      if (isSubscriptionRefused(err)) throw new FleetError('FLEET_ERR_BROKER_REFUSED', `the broker refused the subscription ${filter}`, { cause: err })
      throw new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `subscribing to ${filter} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  private onMessage (topic: string, payload: Buffer, retained: boolean): void {
    const parsed = this.topics.parse(topic)
    if (parsed?.channel === 'rolloutReply') {
      const p = this.pending.get(parsed.rid)
      if (p === undefined) return
      this.pending.delete(parsed.rid)
      clearTimeout(p.timer)
      let reply: RolloutReply
      try { reply = JSON.parse(payload.toString('utf8')) as RolloutReply } catch (err) {
        p.reject(new FleetError('FLEET_ERR_INTERNAL', `the rollout service's reply is not JSON`, { cause: err }))
        return
      }
      if (reply.ok) p.resolve(reply.result)
      else p.reject(replyError(reply.error))
      return
    }
    for (const w of this.watchers) w(topic, payload, retained)
  }

  /**
   * Send one request and resolve with the result; reject with the service's error (its code and issues), or
   * FLEET_ERR_ROLLOUT_TIMEOUT when no rollout service answered.
   */
  request<T = unknown> (name: string, args: Record<string, unknown> = {}): Promise<T> {
    const rid = `${this.base}-${++this.seq}`
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid)
        reject(new FleetError('FLEET_ERR_ROLLOUT_TIMEOUT', `no rollout service answered "${name}" within ${this.timeoutMs} ms on ${this.topics.prefix}/$bridge/rollout (is a fleet with --data-dir or fleet rollout serve running there?)`))
      }, this.timeoutMs)
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer, name })
      this.client.publish(this.topics.rolloutCommand(name, rid), JSON.stringify(args), { qos: 1 }, (err) => {
        // MQTT.js calls back with null, not undefined, on success.
        if (!(err instanceof Error)) return
        const p = this.pending.get(rid)
        if (p === undefined) return
        this.pending.delete(rid)
        clearTimeout(p.timer)
        reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `publishing the request failed: ${err.message}`, { cause: err }))
      })
    })
  }

  /**
   * Call `onStatus` with the deployment's retained status and every update of it, until the returned function is
   * called.
   */
  async watchDeployment (id: string, onStatus: (s: DeploymentStatus) => void): Promise<() => Promise<void>> {
    const topic = this.topics.rolloutDeployment(id)
    const handler = (t: string, payload: Buffer): void => {
      if (t !== topic || payload.length === 0) return
      try { onStatus(JSON.parse(payload.toString('utf8')) as DeploymentStatus) } catch { /* a bad status is skipped */ }
    }
    this.watchers.add(handler)
    await this.subscribe(topic)
    return async () => {
      this.watchers.delete(handler)
      await this.client.unsubscribeAsync(topic).catch(() => undefined)
    }
  }

  /**
   * Call `onStatus` with every deployment's status as the service publishes it, until the returned function is
   * called. `retained` is true for a status the broker held from before the subscription (MQTT's retain flag on
   * delivery [MQTT-3.3.1-8]), false for one published since.
   */
  async watchDeployments (onStatus: (s: DeploymentStatus, retained: boolean) => void): Promise<() => Promise<void>> {
    const filter = this.topics.filter('rolloutDeployment')
    const handler = (t: string, payload: Buffer, retained: boolean): void => {
      if (payload.length === 0 || this.topics.parse(t)?.channel !== 'rolloutDeployment') return
      try { onStatus(JSON.parse(payload.toString('utf8')) as DeploymentStatus, retained) } catch { /* a bad status is skipped */ }
    }
    this.watchers.add(handler)
    await this.subscribe(filter)
    return async () => {
      this.watchers.delete(handler)
      await this.client.unsubscribeAsync(filter).catch(() => undefined)
    }
  }

  async close (): Promise<void> {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new FleetError('FLEET_ERR_CLOSED', `closed before "${p.name}" was answered`)) }
    this.pending.clear()
    await endClient(this.client)
  }
}

function replyError (e: { code: string; message: string; issues?: readonly Issue[] }): FleetError {
  const code: FleetErrorCode = e.code in ERROR_CODES ? e.code as FleetErrorCode : 'FLEET_ERR_ROLLOUT_INVALID'
  return new FleetError(code, e.message, { issues: e.issues ?? [] })
}
