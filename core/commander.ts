/**
 * The controller side of the command contract: publish `{p}/{id}/commands/{name}/{rid}` and wait for the reply on
 * `{p}/{id}/replies/{rid}`. Used by the scenario runner, the CLI and the bridge: anything that commands devices.
 */
import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { FleetError } from './errors.ts'
import { isSubscriptionRefused } from './mqtt-connect.ts'
import type { Reply } from './replies.ts'
import type { Topics } from './topics.ts'

/** A device's answer (docs/topics.md, "replies"): the one {@link Reply} type of core/replies.ts. */
export type CommandReply = Reply

interface Pending { resolve: (r: CommandReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

export class Commander {
  private readonly client: MqttClient
  private readonly topics: Topics
  private readonly pending = new Map<string, Pending>()
  private readonly ridBase = randomBytes(4).toString('hex')
  private counter = 0
  private subscribed: Promise<void> | undefined
  private closed = false
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    const parsed = this.topics.parse(topic)
    if (parsed?.channel !== 'reply') return
    const p = this.pending.get(parsed.rid)
    if (p === undefined) return
    this.pending.delete(parsed.rid)
    clearTimeout(p.timer)
    try {
      p.resolve(JSON.parse(payload.toString('utf8')) as CommandReply)
    } catch (err) {
      p.reject(new FleetError('FLEET_ERR_INTERNAL', `reply on ${topic} is not JSON`, { cause: err }))
    }
  }

  /** `client` must be connected or connecting; the commander subscribes to replies on first use. */
  constructor (client: MqttClient, topics: Topics, readonly defaultTimeoutMs = 10_000) {
    this.client = client
    this.topics = topics
    client.on('message', this.onMessage)
  }

  private ready (): Promise<void> {
    const filter = this.topics.filter('reply')
    this.subscribed ??= this.client.subscribeAsync(filter, { qos: 1 }).then(
      () => undefined,
      (err: unknown) => {
        this.subscribed = undefined // a later send may try again
        throw isSubscriptionRefused(err)
          ? new FleetError('FLEET_ERR_BROKER_REFUSED', `the broker refused the subscription to ${filter}: ${(err as Error).message}`, { cause: err })
          : new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot subscribe to replies: ${(err as Error).message}`, { cause: err })
      }
    )
    return this.subscribed
  }

  /** Send one command; resolves with the device's reply (ok or error), rejects with FLEET_ERR_COMMAND_TIMEOUT. */
  async send (deviceId: string, command: string, args: Record<string, unknown> | string = {}, timeoutMs = this.defaultTimeoutMs): Promise<CommandReply> {
    if (this.closed) throw new FleetError('FLEET_ERR_CLOSED', `commander closed: cannot send ${command} to ${deviceId}`)
    await this.ready()
    if (this.closed) throw new FleetError('FLEET_ERR_CLOSED', `commander closed: cannot send ${command} to ${deviceId}`)
    const rid = `${this.ridBase}-${(this.counter++).toString(36)}`
    const topic = this.topics.command(deviceId, command, rid)
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid)
        reject(new FleetError('FLEET_ERR_COMMAND_TIMEOUT', `no reply from ${deviceId} to ${command} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(rid, { resolve, reject, timer })
    })
    // The reply may settle (close(), a time-out) while we still await the PUBACK below; mark it handled now so
    // that is not an unhandled rejection. The caller still gets the rejection: we return this same promise.
    reply.catch(() => undefined)
    const payload = typeof args === 'string' ? args : JSON.stringify(args)
    try {
      await this.client.publishAsync(topic, payload, { qos: 1 })
    } catch (err) {
      // The request never left: drop its pending entry so its timer cannot reject a promise nobody awaits.
      const p = this.pending.get(rid)
      if (p !== undefined) { clearTimeout(p.timer); this.pending.delete(rid) }
      throw new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot send ${command} to ${deviceId}: ${(err as Error).message}`, { cause: err })
    }
    return reply
  }

  /** Stop listening; pending commands reject with FLEET_ERR_CLOSED. Does not end the client. */
  close (): void {
    this.closed = true
    this.client.off('message', this.onMessage)
    for (const [rid, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new FleetError('FLEET_ERR_CLOSED', `commander closed before the reply to ${rid}`))
    }
    this.pending.clear()
  }
}
