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

interface Pending {
  deviceId: string
  resolve: (r: CommandReply) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  /** How far the request got, for the time-out message: a time-out before the PUBACK points at the broker. */
  stage: 'subscribing' | 'publishing' | 'sent'
  command: string
  topic: string
  payload: string
  /** Times {@link Commander.resend} published it again. */
  resent: number
}

/**
 * Sends commands and matches replies by request id and device. Every send is bounded by its time-out from the
 * moment it is called: waiting for the reply subscription, for the PUBACK and for the reply all count, so a broker
 * that went away mid-run (MQTT.js then queues the publish) ends in FLEET_ERR_COMMAND_TIMEOUT, never in a wait
 * without end.
 *
 * A request published while its device was reconnecting (clean session: between its CONNACK and its SUBACK the broker
 * has no subscription for it) goes to nobody. {@link Commander.resend} publishes a device's unanswered requests again,
 * with the same request id, for a caller that sees the device announce itself `online` (devices do so only once
 * subscribed, and answer a request id they have just run with the same reply instead of running it again,
 * docs/topics.md). The same holds for the commander's own connection: a reply published while it was reconnecting
 * goes to nobody (MQTT.js sends its queued publishes before its resubscription is acknowledged), so once reconnected
 * the commander subscribes to replies again, waits for the SUBACK, and publishes every unanswered request again.
 */
export class Commander {
  private readonly client: MqttClient
  private readonly topics: Topics
  private readonly pending = new Map<string, Pending>()
  private readonly ridBase = randomBytes(4).toString('hex')
  private counter = 0
  private subscribed: Promise<void> | undefined
  private closed = false
  /** The client lost its connection since the commander subscribed to replies. */
  private disconnected = false
  private readonly onClose = (): void => { if (this.subscribed !== undefined) this.disconnected = true }
  private readonly onConnect = (): void => {
    if (!this.disconnected || this.closed) return
    this.disconnected = false
    this.subscribed = undefined
    // A failure here is each request's to report, by its own time-out.
    this.ready().then(() => { this.publishAgain(() => true) }, () => undefined)
  }

  private readonly onMessage = (topic: string, payload: Buffer): void => {
    const parsed = this.topics.parse(topic)
    if (parsed?.channel !== 'reply') return
    const p = this.pending.get(parsed.rid)
    // A reply must come from the device that was asked: another device echoing a pending rid is not the answer.
    if (p === undefined || p.deviceId !== parsed.deviceId) return
    this.settle(parsed.rid, p)
    const reply = parseReply(payload)
    if (reply === undefined) p.reject(new FleetError('FLEET_ERR_BAD_REPLY', `the reply on ${topic} is not a JSON object with a boolean "ok": ${preview(payload)}`))
    else p.resolve(reply)
  }

  /** `client` must be connected or connecting; the commander subscribes to replies on first use. */
  constructor (client: MqttClient, topics: Topics, readonly defaultTimeoutMs = 10_000) {
    this.client = client
    this.topics = topics
    client.on('message', this.onMessage)
    client.on('close', this.onClose)
    client.on('connect', this.onConnect)
  }

  /** Requests waiting for their reply (each holds one timer). */
  get pendingCount (): number { return this.pending.size }

  /** Subscribe to replies now rather than on the first send (bounded by the caller). */
  ready (): Promise<void> {
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

  private settle (rid: string, p: Pending): void {
    clearTimeout(p.timer)
    this.pending.delete(rid)
  }

  private fail (rid: string, err: Error): void {
    const p = this.pending.get(rid)
    if (p === undefined) return
    this.settle(rid, p)
    p.reject(err)
  }

  /**
   * Send one command; resolves with the device's reply (ok or error). Rejects with FLEET_ERR_COMMAND_TIMEOUT when
   * no reply came within `timeoutMs` of the call, FLEET_ERR_BAD_REPLY for a reply that is not a reply object,
   * FLEET_ERR_BROKER_REFUSED / _UNREACHABLE when the request could not be sent, FLEET_ERR_CLOSED after close().
   */
  send (deviceId: string, command: string, args: Record<string, unknown> | string = {}, timeoutMs = this.defaultTimeoutMs): Promise<CommandReply> {
    if (this.closed) return Promise.reject(new FleetError('FLEET_ERR_CLOSED', `commander closed: cannot send ${command} to ${deviceId}`))
    const rid = `${this.ridBase}-${(this.counter++).toString(36)}`
    let topic: string
    try { topic = this.topics.command(deviceId, command, rid) } catch (err) { return Promise.reject(err instanceof Error ? err : new Error(String(err))) }
    const payload = typeof args === 'string' ? args : JSON.stringify(args)
    return new Promise<CommandReply>((resolve, reject) => {
      const p: Pending = { deviceId, resolve, reject, stage: 'subscribing', command, topic, payload, resent: 0, timer: setTimeout(() => { this.fail(rid, timeoutError(deviceId, command, timeoutMs, p)) }, timeoutMs) }
      this.pending.set(rid, p)
      this.ready().then(() => {
        if (this.pending.get(rid) !== p) return // timed out or closed meanwhile
        p.stage = 'publishing'
        this.publish(rid, p)
      }, (err: unknown) => { this.fail(rid, err instanceof Error ? err : new Error(String(err))) })
    })
  }

  private publish (rid: string, p: Pending): void {
    const failed = (err: Error): void => { this.fail(rid, new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `cannot send ${p.command} to ${p.deviceId}: ${err.message}`, { cause: err })) }
    try {
      this.client.publish(p.topic, p.payload, { qos: 1 }, (err) => {
        if (err === undefined || err === null) { if (p.stage === 'publishing') p.stage = 'sent' } else failed(err)
      })
    } catch (err) {
      // MQTT.js throws, rather than calling back, for a client whose stores are already closed.
      failed(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /**
   * Publish again, with the same request id, every request to `deviceId` that was published and is still waiting
   * for its reply: call it when the device announces itself `online`, as a request published while it was
   * reconnecting reached nobody. A device that did get the first one does not run it twice: it answers with the reply
   * it gave. Returns how many.
   */
  resend (deviceId: string): number {
    return this.publishAgain((p) => p.deviceId === deviceId)
  }

  /** Publish again every request that was published, is waiting for its reply and matches `which`; how many. */
  private publishAgain (which: (p: Pending) => boolean): number {
    if (this.closed || this.pending.size === 0) return 0
    let n = 0
    for (const [rid, p] of this.pending) {
      if (p.stage === 'subscribing' || !which(p)) continue
      p.resent++
      n++
      this.publish(rid, p)
    }
    return n
  }

  /** Stop listening; pending commands reject with FLEET_ERR_CLOSED. Does not end the client. */
  close (): void {
    this.closed = true
    this.client.off('message', this.onMessage)
    this.client.off('close', this.onClose)
    this.client.off('connect', this.onConnect)
    for (const [rid, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new FleetError('FLEET_ERR_CLOSED', `commander closed before the reply to ${rid}`))
    }
    this.pending.clear()
  }
}

function timeoutError (deviceId: string, command: string, timeoutMs: number, p: Pending): FleetError {
  const notes: string[] = []
  if (p.stage === 'subscribing') notes.push('the broker never acknowledged the reply subscription')
  else if (p.stage === 'publishing') notes.push('the broker never acknowledged the command')
  if (p.resent > 0) notes.push(`sent again ${p.resent === 1 ? 'once' : `${p.resent} times`} (when the device announced itself online, or the commander reconnected)`)
  const why = notes.length === 0 ? '' : ` (${notes.join('; ')})`
  return new FleetError('FLEET_ERR_COMMAND_TIMEOUT', `no reply from ${deviceId} to ${command} within ${timeoutMs} ms${why}`)
}

/** A reply object, or undefined for anything else (not JSON, not an object, no boolean `ok`). */
function parseReply (payload: Buffer): CommandReply | undefined {
  let v: unknown
  try { v = JSON.parse(payload.toString('utf8')) } catch { return undefined }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { ok?: unknown }).ok !== 'boolean') return undefined
  return v as CommandReply
}

function preview (payload: Buffer): string {
  const text = payload.toString('utf8')
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
}
