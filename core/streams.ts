/**
 * MQTT as RxJS streams. A subscription to the observable is an MQTT subscription: it SUBSCRIBEs when subscribed
 * and UNSUBSCRIBEs (and removes its listener) on teardown, so `take(n)`, `takeUntil(stop$)` or an unsubscribe end
 * both the stream and the broker-side subscription (STYLE.md: "Streams end").
 */
import { Observable } from 'rxjs'
import type { MqttClient } from 'mqtt'
import { filterMatcher } from './topics.ts'

export interface MqttMessage {
  readonly topic: string
  readonly payload: Buffer
  readonly retain: boolean
}

/**
 * Messages on `filters`, from a connected (or connecting, with `resubscribe`) client. Only messages matching one of
 * the filters are emitted, even when the client has other subscriptions. A failed SUBSCRIBE errors the stream.
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
    client.subscribe([...filters], { qos }, (err) => {
      if (err !== null && err !== undefined && active) subscriber.error(err)
    })
    return () => {
      active = false
      client.off('message', onMessage)
      if (client.connected) client.unsubscribe([...filters], () => undefined)
    }
  })
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
