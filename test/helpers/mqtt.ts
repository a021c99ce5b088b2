import mqtt, { type MqttClient } from 'mqtt'

/** Resolve with the first message on a topic matching `filter` for which `accept` holds. */
export function nextMessage (client: MqttClient, predicate: (topic: string, payload: Buffer) => boolean): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer): void => {
      if (!predicate(topic, payload)) return
      client.off('message', on)
      resolve({ topic, payload })
    }
    client.on('message', on)
  })
}

/** Collect messages until `done(list)` says enough. */
export function collectMessages (client: MqttClient, predicate: (topic: string, payload: Buffer) => boolean, done: (list: Array<{ topic: string; payload: Buffer }>) => boolean): Promise<Array<{ topic: string; payload: Buffer }>> {
  const list: Array<{ topic: string; payload: Buffer }> = []
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer): void => {
      if (!predicate(topic, payload)) return
      list.push({ topic, payload })
      if (done(list)) { client.off('message', on); resolve(list) }
    }
    client.on('message', on)
  })
}

export function connectClient (url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, ...options })
}
