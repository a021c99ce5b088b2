import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
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

/**
 * A TCP relay from a loopback port of its own (port 0) to a broker's, to cut one client's link without touching the
 * broker: `cut()` destroys every relayed connection, and closes every new one at once until `restore()`, so the
 * client's reconnect attempts fail until then.
 */
export interface LinkCutter {
  readonly url: string
  /** Connections relayed to the broker so far (not counting those closed while cut). */
  readonly relayed: number
  cut: () => void
  restore: () => void
  close: () => Promise<void>
}

export async function startLinkCutter (targetPort: number): Promise<LinkCutter> {
  const live = new Set<Socket>()
  let down = false
  let relayed = 0
  const server = createServer((client) => {
    if (down) { client.destroy(); return }
    relayed++
    const upstream = connect(targetPort, '127.0.0.1')
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    live.add(client)
    live.add(upstream)
    const end = (): void => {
      client.destroy()
      upstream.destroy()
      live.delete(client)
      live.delete(upstream)
    }
    for (const s of [client, upstream]) { s.on('error', end); s.on('close', end) }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `mqtt://127.0.0.1:${port}`,
    get relayed () { return relayed },
    cut: () => {
      down = true
      for (const s of [...live]) s.destroy()
      live.clear()
    },
    restore: () => { down = false },
    close: () => new Promise<void>((resolve) => {
      down = true
      for (const s of [...live]) s.destroy()
      live.clear()
      server.close(() => { resolve() })
    })
  }
}
