/**
 * Bounded fan-out: the runner's way to do one thing to thousands of devices (send a command, publish a desired
 * state, clear a retained topic) without handing thousands of requests to the broker at once. A burst of 100,000
 * QoS 1 publishes would sit in MQTT.js's outgoing store and the broker's queues all at once, and a burst of
 * commands would bring back a burst of replies that overflows a broker's per-client queue towards the runner
 * (mosquitto: 20 in flight + 1,000 queued, the rest dropped).
 */

/**
 * Run `fn` on every item with at most `limit` calls in flight, in item order; resolves with the results in item
 * order. On the first rejection no further item is started, the calls in flight are waited for, and the promise
 * rejects with that first error.
 */
export async function boundedMap<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!(limit >= 1) || !Number.isInteger(limit)) throw new RangeError(`fan-out limit must be a positive integer, got ${limit}`)
  const results = new Array<R>(items.length)
  let next = 0
  let failed = false
  let failure: unknown
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i] as T, i)
      } catch (err) {
        if (!failed) { failed = true; failure = err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failed) throw failure
  return results
}
