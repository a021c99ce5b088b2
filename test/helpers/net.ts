import { createServer, type AddressInfo } from 'node:net'
import type { EmbeddedBroker } from '../../broker/index.ts'

/** A loopback port nothing listens on now: bind port 0, note it, close. (Also a free port for a server to take.) */
export async function closedPort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  return port
}

/** Resolves when some client has subscribed to `topic` on the broker; rejects after `timeoutMs`, naming the topic. */
export function subscribedTo (broker: EmbeddedBroker, topic: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      broker.off('subscribe', on)
      reject(new Error(`subscribedTo: waited ${timeoutMs} ms for a subscription to ${topic}`))
    }, timeoutMs)
    const on = (subs: Array<{ topic: string }>): void => {
      if (subs.some((s) => s.topic === topic)) { clearTimeout(timer); broker.off('subscribe', on); resolve() }
    }
    broker.on('subscribe', on)
  })
}
