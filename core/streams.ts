/**
 * MQTT as RxJS streams. A subscription to the observable is an MQTT subscription: it SUBSCRIBEs when subscribed
 * and UNSUBSCRIBEs (and removes its listener) on teardown, so `take(n)`, `takeUntil(stop$)` or an unsubscribe end
 * both the stream and the broker-side subscription (every stream ends: nothing is left subscribed).
 */
import { Observable } from 'rxjs'
import type { ClientSubscribeCallback, ISubscriptionGrant, MqttClient } from 'mqtt'
import { FleetError } from './errors.ts'
import { filterMatcher } from './topics.ts'

export interface MqttMessage {
  readonly topic: string
  readonly payload: Buffer
  readonly retain: boolean
}

/**
 * Messages on `filters`, from a connected (or connecting, with `resubscribe`) client. Only messages matching one of
 * the filters are emitted, even when the client has other subscriptions.
 *
 * A SUBSCRIBE the broker refuses (a SUBACK return code 0x80, [MQTT-3.9.3-2]) errors the stream with a
 * FLEET_ERR_BROKER_REFUSED naming the refused filters. A SUBSCRIBE lost because the connection closed before its
 * SUBACK does not: a client that reconnects and resubscribes (MQTT.js's `resubscribe`, on by default, with a
 * `reconnectPeriod` above 0) sends it again once it is back. Any other failure errors the stream as it is.
 *
 * @example
 * mqttMessages(client, ['home/+/telemetry']).pipe(take(3)).subscribe((m) => console.log(m.topic))
 */
export function mqttMessages (client: MqttClient, filters: readonly string[], qos: 0 | 1 = 0): Observable<MqttMessage> {
  const matchers = filters.map(filterMatcher)
  return new Observable<MqttMessage>((subscriber) => {
    const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
      if (matchers.some((match) => match(topic))) subscriber.next({ topic, payload, retain: packet.retain === true })
    }
    client.on('message', onMessage)
    let active = true
    client.subscribe([...filters], { qos }, (err, granted, packet) => {
      if (err === null || err === undefined || !active) return
      const problem = subscribeFailure(client, filters, err, granted, packet)
      if (problem !== undefined) subscriber.error(problem)
    })
    return () => {
      active = false
      client.off('message', onMessage)
      if (client.connected) client.unsubscribe([...filters], () => undefined)
    }
  })
}

/** What a failed SUBSCRIBE means for the stream: an error to report, or `undefined` when it will be retried. */
function subscribeFailure (client: MqttClient, filters: readonly string[], err: Error, requested: readonly ISubscriptionGrant[] | undefined, packet: Parameters<ClientSubscribeCallback>[2]): Error | undefined {
  // MQTT.js 5 reports a refusal as an ErrorWithSubackPacket ("Subscribe error: Unspecified error") whose packet
  // holds one return code per filter of the SUBSCRIBE, in order.
  const codes = packet?.cmd === 'suback' ? packet.granted.map((c) => typeof c === 'number' ? c : 0) : []
  const isRefusal = (c: number | undefined): boolean => c !== undefined && (c & 0x80) !== 0
  if (codes.some(isRefusal)) {
    const asked = requested?.length === codes.length ? requested.map((r) => r.topic) : undefined
    const refused = asked === undefined ? [...filters] : asked.filter((_t, i) => isRefusal(codes[i]))
    const what = refused.length === 1 ? 'a subscription to' : 'subscriptions to'
    return new FleetError('FLEET_ERR_BROKER_REFUSED', `the broker refused ${what} ${refused.join(', ')} (SUBACK 0x80: not authorised, or a filter it does not accept)`, { cause: err })
  }
  // "Connection closed" before the SUBACK: MQTT.js subscribes again after reconnecting, if it will reconnect.
  const { resubscribe, reconnectPeriod } = client.options
  const willResubscribe = resubscribe !== false && (reconnectPeriod ?? 1000) > 0 && !client.disconnecting
  if (!client.connected && willResubscribe) return undefined
  return err
}

/** Emits once when the signal aborts (at once if it already has), then completes. */
export function abortion (signal: AbortSignal): Observable<unknown> {
  return new Observable((subscriber) => {
    const fire = (): void => { subscriber.next(signal.reason); subscriber.complete() }
    if (signal.aborted) { fire(); return undefined }
    signal.addEventListener('abort', fire, { once: true })
    return () => { signal.removeEventListener('abort', fire) }
  })
}
