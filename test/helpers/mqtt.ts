/**
 * Waiting for MQTT messages in tests. Each wait has its own time-out that names what it waited for, so a regression
 * fails with "waited 10000 ms for a message matching …" instead of the test runner's bare time-out.
 */
import mqtt, { type MqttClient } from 'mqtt'

/** Default bound on one wait: generous, as two shared cores run several suites at once. */
export const WAIT_TIMEOUT_MS = 20_000

/** Resolve with the first message for which `predicate` holds; reject after `timeoutMs` naming `what`. */
export function nextMessage (client: MqttClient, predicate: (topic: string, payload: Buffer) => boolean, what = 'a matching message', timeoutMs = WAIT_TIMEOUT_MS): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', on)
      reject(new Error(`nextMessage: waited ${timeoutMs} ms for ${what}`))
    }, timeoutMs)
    const on = (topic: string, payload: Buffer): void => {
      if (!predicate(topic, payload)) return
      clearTimeout(timer)
      client.off('message', on)
      resolve({ topic, payload })
    }
    client.on('message', on)
  })
}

/** Collect messages until `done(list)` says enough; reject after `timeoutMs` naming `what` and how many came. */
export function collectMessages (client: MqttClient, predicate: (topic: string, payload: Buffer) => boolean, done: (list: Array<{ topic: string; payload: Buffer }>) => boolean, what = 'the expected messages', timeoutMs = WAIT_TIMEOUT_MS): Promise<Array<{ topic: string; payload: Buffer }>> {
  const list: Array<{ topic: string; payload: Buffer }> = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', on)
      reject(new Error(`collectMessages: waited ${timeoutMs} ms for ${what}; got ${list.length}: ${list.slice(-3).map((m) => m.topic).join(', ')}`))
    }, timeoutMs)
    const on = (topic: string, payload: Buffer): void => {
      if (!predicate(topic, payload)) return
      list.push({ topic, payload })
      if (done(list)) { clearTimeout(timer); client.off('message', on); resolve(list) }
    }
    client.on('message', on)
  })
}

export function connectClient (url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: WAIT_TIMEOUT_MS, ...options })
}
