/**
 * The real executable: `node bin/fleet.js …` in a child process, as a user or a CI job runs it. Exit codes, signals
 * and stdout/stderr are checked end to end; brokers and clients are real, and every process is reaped.
 */

import { afterEach, describe, expect, it } from 'vitest'
import { createBroker, type EmbeddedBroker } from '../../broker/broker.ts'
import { reap, spawnFleet, type FleetProcess } from './helpers.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { closedPort, subscribedTo } from '../helpers/net.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

/** A spawned `fleet`, killed (if still running) and reaped after the test. */
function fleet (args: string[], env: Record<string, string> = {}): FleetProcess {
  return td.add(spawnFleet(args, env), reap)
}

async function startBroker (): Promise<EmbeddedBroker & { url: string; port: number }> {
  return td.add(await createBroker({ port: 0 }), (b) => b.close()) as EmbeddedBroker & { url: string; port: number }
}

describe('fleet (real process)', () => {
  it('fleet --help exits 0 with the help on stdout', async () => {
    const p = fleet(['--help'])
    expect(await p.exited).toEqual({ code: 0, signal: null })
    expect(p.out.text).toMatch(/^Usage: fleet <command>/m)
    expect(p.out.text).toMatch(/--connect-timeout <DURATION>/)
    expect(p.err.text).toBe('')
  })

  it('fleet --help loads neither the broker, the device runtime, the scenario runner, MQTT.js nor pino', async () => {
    // A module resolve hook (node:module register) in the child prints every module it loads on stderr.
    const hook = "export async function resolve (s, c, next) { const r = await next(s, c); process.stderr.write('LOADED ' + r.url + '\\n'); return r }"
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)})`
    const p = fleet(['--help'], { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=data:text/javascript,${encodeURIComponent(register)}` })
    expect(await p.exited).toEqual({ code: 0, signal: null })
    const loaded = [...p.err.text.matchAll(/^LOADED (.+)$/gm)].map((m) => m[1]!)
    expect(loaded.some((u) => u.endsWith('/cli/commands.ts'))).toBe(true) // the trace works
    const heavy = loaded.filter((u) => /\/node_modules\/(mqtt|mqtt-packet|pino|pino-pretty|aedes|rxjs|yaml|zod)\/|\/(broker|scenarios|bridge)\/|\/devices\/(?!kind-names\.ts$)/.test(u))
    expect(heavy).toEqual([])
  })

  it('a bad flag value exits 2 with one line naming the flag and a pointer to --help', async () => {
    const p = fleet(['broker', '--port', 'abc'])
    expect(await p.exited).toEqual({ code: 2, signal: null })
    expect(p.err.text).toBe('FLEET_ERR_USAGE: --port expects an integer from 0 to 65535, got "abc"\nRun \'fleet broker --help\' for usage.\n')
  })

  it('fleet broker --port 0 prints its URL, serves MQTT.js, and exits 0 on SIGTERM', async () => {
    const p = fleet(['broker', '--port', '0'])
    const [url] = await p.out.waitFor(/mqtt:\/\/127\.0\.0\.1:\d+/)
    const c = td.client(await connectClient(url))
    await c.subscribeAsync('t')
    const got = new Promise<string>((resolve) => c.once('message', (_t, m) => { resolve(m.toString()) }))
    await c.publishAsync('t', 'through the CLI broker')
    expect(await got).toBe('through the CLI broker')
    p.child.kill('SIGTERM')
    expect(await p.exited).toEqual({ code: 0, signal: null })
    expect(p.out.text).toMatch(/SIGTERM: closing/)
    expect(p.out.text).toMatch(/broker closed/)
  })

  it('fleet broker exits 0 on SIGINT too', async () => {
    const p = fleet(['broker', '--port', '0', '--json-logs'])
    await p.out.waitFor(/"url":"mqtt:/)
    p.child.kill('SIGINT')
    expect(await p.exited).toEqual({ code: 0, signal: null })
  })

  it('fleet broker on a taken port exits 3 naming the port', async () => {
    const taken = await startBroker()
    const p = fleet(['broker', '--port', String(taken.port)])
    expect(await p.exited).toEqual({ code: 3, signal: null })
    expect(p.err.text).toContain(`FLEET_ERR_PORT_IN_USE: port ${taken.port} on 127.0.0.1 is already in use`)
  })

  it('fleet logs against a closed port exits 3 with FLEET_ERR_BROKER_UNREACHABLE', async () => {
    const port = await closedPort()
    const p = fleet(['logs', '--broker', `mqtt://127.0.0.1:${port}`])
    expect(await p.exited).toEqual({ code: 3, signal: null })
    expect(p.err.text).toMatch(new RegExp(`^FLEET_ERR_BROKER_UNREACHABLE: cannot reach mqtt://127\\.0\\.0\\.1:${port}`))
  })

  it('fleet logs --count 2 prints exactly the filtered lines and exits 0', async () => {
    const broker = await startBroker()
    const c = td.client(await connectClient(broker.url))
    const ts = Date.UTC(2026, 0, 1, 8, 0, 0, 125)
    await c.publishAsync('home/spk-1/info', JSON.stringify({ id: 'spk-1', kind: 'speaker', room: 'kitchen', name: 'K' }), { retain: true, qos: 1 })
    await c.publishAsync('home/band-1/info', JSON.stringify({ id: 'band-1', kind: 'band', room: 'bedroom', name: 'B' }), { retain: true, qos: 1 })
    const ready = subscribedTo(broker, 'home/+/log')
    const p = fleet(['logs', '--broker', broker.url, '--kind', 'speaker', '--level', 'info', '--count', '2'], { TZ: 'UTC' })
    await ready
    const log = (id: string, level: string, msg: string, extra: Record<string, unknown> = {}): Promise<unknown> =>
      c.publishAsync(`home/${id}/log`, JSON.stringify({ ts, level, msg, ...extra }), { qos: 1 })
    await log('spk-1', 'debug', 'below the level')
    await log('band-1', 'error', 'wrong kind')
    await log('spk-1', 'info', 'online', { firmware: '1.0.0' })
    await log('spk-1', 'error', 'amp overheated', { celsius: 91.5 })
    expect(await p.exited).toEqual({ code: 0, signal: null })
    expect(p.out.text).toBe(
      '08:00:00.125 INFO  spk-1 (kitchen) online firmware=1.0.0\n' +
      '08:00:00.125 ERROR spk-1 (kitchen) amp overheated celsius=91.5\n'
    )
    expect(p.err.text).toBe('')
  })

  it('fleet logs exits 0 on SIGINT', async () => {
    const broker = await startBroker()
    const ready = subscribedTo(broker, 'home/+/log')
    const p = fleet(['logs', '--broker', broker.url])
    await ready
    p.child.kill('SIGINT')
    expect(await p.exited).toEqual({ code: 0, signal: null })
  })
})
