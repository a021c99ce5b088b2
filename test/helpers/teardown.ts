/**
 * A teardown list (MQTT.js's test-helper habit): everything a test opens is registered here and closed in
 * `afterEach`, in reverse order, even when the test failed half-way.
 */
import type { MqttClient } from 'mqtt'
import { endClient } from '../../core/mqtt-connect.ts'

type Closer = () => unknown

export class Teardown {
  private readonly closers: Closer[] = []

  add<T> (thing: T, close: (t: T) => unknown): T {
    this.closers.push(() => close(thing))
    return thing
  }

  client (client: MqttClient): MqttClient {
    return this.add(client, (c) => endClient(c, true))
  }

  async run (): Promise<void> {
    const errors: unknown[] = []
    while (this.closers.length > 0) {
      const close = this.closers.pop() as Closer
      try { await close() } catch (err) { errors.push(err) }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'teardown failed')
  }
}
