/**
 * `main(argv, io)` in-process: captured output, an AbortController for Ctrl-C, a real embedded broker on port 0 and
 * real MQTT.js clients. Every broker and client a test opens is closed in afterEach.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker, type BrokerOptions, type EmbeddedBroker } from '../../broker/broker.ts'
import { FleetError } from '../../core/errors.ts'
import { main, reportError } from '../../cli/main.ts'
import { testIo } from './helpers.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { closedPort, subscribedTo } from '../helpers/net.ts'
import { Teardown } from '../helpers/teardown.ts'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const td = new Teardown()
afterEach(async () => { await td.run() })

async function startBroker (options: Partial<BrokerOptions> = {}): Promise<EmbeddedBroker & { url: string; port: number }> {
  return td.add(await createBroker({ port: 0, ...options }), (b) => b.close()) as EmbeddedBroker & { url: string; port: number }
}

async function connect (url: string): Promise<MqttClient> {
  return td.client(await connectClient(url))
}

const T = Date.UTC(2026, 0, 1, 8, 0, 0, 0)
const line = (level: string, msg: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ ts: T, level, msg, ...extra })

describe('main: help, version and usage errors', () => {
  it('--help, help <cmd>, <cmd> --help and -h print help on stdout, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const io = testIo()
      expect(await main(argv, io)).toBe(0)
      expect(io.out.text).toMatch(/^Usage: fleet <command>/m)
      expect(io.err.text).toBe('')
    }
    for (const argv of [['help', 'logs'], ['logs', '--help'], ['logs', '--count', 'x', '-h'], ['--help', 'logs']]) {
      const io = testIo()
      expect(await main(argv, io)).toBe(0)
      expect(io.out.text).toMatch(/^Usage: fleet logs \[options\]$/m)
    }
  })

  it('--version / -v print the package version', async () => {
    for (const argv of [['--version'], ['-v'], ['logs', '--version']]) {
      const io = testIo()
      expect(await main(argv, io)).toBe(0)
      expect(io.out.text).toBe(`${VERSION}\n`)
    }
  })

  it.each([
    [[], /FLEET_ERR_USAGE: no command given/, "Run 'fleet --help' for usage."],
    [['fly'], /FLEET_ERR_USAGE: unknown command "fly"/, "Run 'fleet --help' for usage."],
    [['brokr'], /unknown command "brokr" \(did you mean "broker"\?\)/, "Run 'fleet --help' for usage."],
    [['--port', '1', 'broker'], /unknown option --port; a command's options go after the command/, "Run 'fleet --help' for usage."],
    [['help', 'nope'], /unknown command "nope"/, "Run 'fleet --help' for usage."],
    [['broker', '--port', 'abc'], /^FLEET_ERR_USAGE: --port expects an integer from 0 to 65535, got "abc"$/m, "Run 'fleet broker --help' for usage."],
    [['broker', '--port', '70000'], /--port expects an integer from 0 to 65535, got "70000"/, "Run 'fleet broker --help' for usage."],
    [['broker', '--log-level', 'loud'], /--log-level expects one of trace, debug, info, warn, error, fatal, silent, got "loud"/, "Run 'fleet broker --help' for usage."],
    [['broker', 'extra'], /unexpected argument "extra"/, "Run 'fleet broker --help' for usage."],
    [['logs', '--bogus'], /unknown option --bogus/, "Run 'fleet logs --help' for usage."],
    [['logs', '--device', 'a/b'], /--device expects a device id or glob \(with \* and \?\) that is one topic level: not starting with \$, without \/ \+ # or NUL, got "a\/b"/, "Run 'fleet logs --help' for usage."],
    // Refused while parsing, before any connection: with a broker that is not there, a later check would exit 3.
    [['logs', '--device', '$x', '--broker', 'mqtt://127.0.0.1:1'], /--device expects a device id or glob .*, got "\$x"/, "Run 'fleet logs --help' for usage."],
    [['logs', '--device', 'ok-*', '--device', 'a\u0000b', '--broker', 'mqtt://127.0.0.1:1'], /--device expects a device id or glob .*, got "a\\u0000b"/, "Run 'fleet logs --help' for usage."],
    [['logs', '--timeout', '10'], /--timeout expects a duration/, "Run 'fleet logs --help' for usage."],
    [['run'], /missing <scenario>/, "Run 'fleet run --help' for usage."],
    [['run', 'a', 'b'], /unexpected argument "b"/, "Run 'fleet run --help' for usage."],
    [['run', 'demo', '--broker', 'mqtt://x', '--port', '1'], /--port sets up the embedded broker, but this run uses mqtt:\/\/x$/m, "Run 'fleet run --help' for usage."],
    [['run', 'demo', '--speed', '-1'], /--speed needs a value/, "Run 'fleet run --help' for usage."]
  ])('%j ⇒ exit 2, one clear line and a pointer to --help', async (argv, message, pointer) => {
    const io = testIo()
    expect(await main(argv, io)).toBe(2)
    expect(io.err.text).toMatch(message)
    expect(io.err.lines.at(-1)).toBe(pointer)
    expect(io.err.text).not.toMatch(/\n\s+at /) // no stack trace
    expect(io.out.text).toBe('')
  })
})

describe('reportError', () => {
  it('prints a FleetError with its code and every issue with file:line, and returns its exit code', () => {
    const io = testIo()
    const err = new FleetError('FLEET_ERR_SCENARIO_INVALID', 'invalid scenario file', {
      issues: [{ path: 'fleet.speakers', message: 'must be a number', file: 'a.yaml', line: 3, column: 5 }, { path: 'expect[0]', message: 'unknown', file: 'a.yaml', line: 9 }]
    })
    expect(reportError(err, io, false)).toBe(2)
    expect(io.err.lines).toEqual(['FLEET_ERR_SCENARIO_INVALID: invalid scenario file', '  a.yaml:3:5: fleet.speakers: must be a number', '  a.yaml:9: expect[0]: unknown'])
  })

  it('prints an unexpected error as one message, with the stack and causes only when debugging', () => {
    const quiet = testIo()
    expect(reportError(new TypeError('boom'), quiet, false)).toBe(1)
    expect(quiet.err.text).toBe('fleet: unexpected error: TypeError: boom\n(run again with --debug or FLEET_DEBUG=1 for the stack trace)\n')
    const loud = testIo()
    expect(reportError(new Error('outer', { cause: new Error('inner') }), loud, true)).toBe(1)
    expect(loud.err.text).toMatch(/Error: outer\n\s+at /)
    expect(loud.err.text).toMatch(/Caused by:\nError: inner/)
  })
})

describe('main: fleet broker (in-process)', () => {
  it('prints its URL, serves MQTT, and closes on the stop signal with exit 0', async () => {
    const io = testIo()
    const exit = main(['broker', '--port', '0', '--json-logs'], io)
    const [url] = await io.out.waitFor(/mqtt:\/\/127\.0\.0\.1:\d+/)
    const c = await connect(url)
    await c.publishAsync('x/y', 'hello')
    io.controller.abort()
    expect(await exit).toBe(0)
    const records = io.out.lines.map((l) => JSON.parse(l) as { msg: string; url?: string })
    expect(records.find((r) => r.url === url)?.msg).toContain(`listening on ${url}`)
    expect(records.at(-1)?.msg).toBe('broker closed')
  })

  it('prints pretty logs by default and the URL even with --log-level warn', async () => {
    const io = testIo()
    const exit = main(['broker', '--port', '0', '--log-level', 'warn'], io)
    await io.out.waitFor(/INFO: listening on mqtt:\/\/127\.0\.0\.1:\d+/)
    io.controller.abort()
    expect(await exit).toBe(0)
    expect(io.out.text).not.toMatch(/broker closed/) // info lines other than the URL are filtered
  })

  it('exits 3 with FLEET_ERR_PORT_IN_USE naming the port when it is taken', async () => {
    const taken = await startBroker()
    const io = testIo()
    expect(await main(['broker', '--port', String(taken.port)], io)).toBe(3)
    expect(io.err.text).toMatch(new RegExp(`^FLEET_ERR_PORT_IN_USE: port ${taken.port} on 127\\.0\\.0\\.1 is already in use`))
  })
})

describe('main: fleet logs (in-process)', () => {
  /** Retained info for three devices, then run `fleet logs` and publish once it has subscribed. */
  async function scenario (args: string[], publish: (c: MqttClient) => Promise<void>): Promise<{ code: number; out: string[]; err: string }> {
    const broker = await startBroker()
    const c = await connect(broker.url)
    await c.publishAsync('home/s1/info', JSON.stringify({ id: 's1', kind: 'speaker', room: 'kitchen', name: 'Kitchen speaker' }), { retain: true, qos: 1 })
    await c.publishAsync('home/b1/info', JSON.stringify({ id: 'b1', kind: 'band', room: 'bedroom' }), { retain: true, qos: 1 })
    const io = testIo()
    const ready = subscribedTo(broker, 'home/+/log')
    const exit = main(['logs', '--broker', broker.url, ...args], io)
    await ready
    await publish(c)
    const code = await exit
    return { code, out: io.out.lines, err: io.err.text }
  }

  it('prints only the lines that pass the filters, and exits 0 after --count', async () => {
    const r = await scenario(['--level', 'info', '--count', '2'], async (c) => {
      await c.publishAsync('home/s1/log', line('debug', 'too quiet'))
      await c.publishAsync('home/s1/log', line('warn', 'volume clipped', { volume: 100 }))
      await c.publishAsync('home/s1/telemetry', '{}')
      await c.publishAsync('home/b1/log', 'not json at all')
      await c.publishAsync('home/b1/log', line('error', 'after the count'))
    })
    expect(r.code).toBe(0)
    expect(r.out).toHaveLength(2)
    // The room shows once the retained info has arrived; MQTT does not order it before the first live line.
    expect(r.out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}s1( \(kitchen\))? volume clipped volume=100$/)
    expect(r.out[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} RAW {3}b1( \(bedroom\))? not json at all$/)
  })

  it('filters by kind, room and device glob, holding lines until the info is known', async () => {
    const r = await scenario(['--kind', 'speaker', '--room', 'kitchen', '--device', 's*', '--count', '2', '--json'], async (c) => {
      await c.publishAsync('home/b1/log', line('info', 'band line'))
      await c.publishAsync('home/s2/log', line('info', 'before its info'))
      await c.publishAsync('home/s2/info', JSON.stringify({ id: 's2', kind: 'speaker', room: 'kitchen' }), { retain: true, qos: 1 })
      await c.publishAsync('home/s1/log', line('info', 'known'))
    })
    expect(r.code).toBe(0)
    const objs = r.out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(objs.map((o) => [o.deviceId, o.kind, o.room, o.msg])).toEqual([['s2', 'speaker', 'kitchen', 'before its info'], ['s1', 'speaker', 'kitchen', 'known']])
  })

  it('--room matches rooms as scenarios do: case, accents and separators do not matter', async () => {
    const r = await scenario(['--room', 'KITCHEN', '--room', 'living-room', '--count', '2', '--timeout', '10s', '--json'], async (c) => {
      await c.publishAsync('home/l1/info', JSON.stringify({ id: 'l1', kind: 'speaker', room: 'Living Room' }), { retain: true, qos: 1 })
      await c.publishAsync('home/b1/log', line('info', 'bedroom'))
      await c.publishAsync('home/s1/log', line('info', 'kitchen'))
      await c.publishAsync('home/l1/log', line('info', 'living room'))
    })
    expect(r.code).toBe(0)
    expect(r.out.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['kitchen', 'living room'])
  })

  it('a refused subscription (SUBACK 0x80) ⇒ exit 3 with FLEET_ERR_BROKER_REFUSED naming the filters', async () => {
    const broker = await startBroker({ authorizeSubscribe: () => false })
    const io = testIo()
    expect(await main(['logs', '--broker', broker.url, '--prefix', 'lab/home'], io)).toBe(3)
    expect(io.err.lines[0]).toMatch(/^FLEET_ERR_BROKER_REFUSED: the broker refused subscriptions to lab\/home\/\+\/info, lab\/home\/\+\/log \(/)
    expect(io.err.text).not.toMatch(/unexpected error/)
  })

  it('a connection the broker closes during the subscribe ⇒ a note, a reconnect, and the lines after it', async () => {
    // Every SUBSCRIBE on the first connection makes the broker close it (a hook that throws closes that client).
    let first: unknown
    const broker = await startBroker({
      authorizeSubscribe: (client) => {
        first ??= client
        if (client === first) throw new Error('closing this connection')
        return true
      }
    })
    const c = await connect(broker.url)
    const io = testIo()
    const ready = subscribedTo(broker, 'home/+/log') // granted: on the second connection
    const exit = main(['logs', '--broker', broker.url, '--count', '1'], io)
    await Promise.race([ready, exit.then((code) => { throw new Error(`fleet logs exited ${code} before subscribing again:\n${io.err.text}`) })])
    await c.publishAsync('home/s1/log', line('warn', 'after the reconnect'), { qos: 1 })
    expect(await exit).toBe(0)
    expect(io.out.lines).toEqual([expect.stringMatching(/WARN {2}s1 after the reconnect$/)])
    expect(io.err.text).toMatch(new RegExp(`^fleet logs: connection to ${broker.url.replace(/\./g, '\\.')} lost.*; reconnecting…\nfleet logs: reconnected to `))
  })

  it('--timeout before --count ⇒ exit 1 with a note; the stop signal ⇒ exit 0', async () => {
    const broker = await startBroker()
    const io = testIo()
    expect(await main(['logs', '--broker', broker.url, '--count', '5', '--timeout', '200ms'], io)).toBe(1)
    expect(io.err.text).toMatch(/--timeout 200ms ran out after 0 of 5 line\(s\)/)

    const io2 = testIo()
    const ready = subscribedTo(broker, 'home/+/log')
    const exit = main(['logs', '--broker', broker.url], io2)
    await ready
    io2.controller.abort()
    expect(await exit).toBe(0)
  })

  it('the stop signal while still connecting ⇒ exit 0, nothing left open', async () => {
    // A TCP server that accepts and never answers: the CONNECT waits for a CONNACK that never comes.
    const sockets = new Set<Socket>()
    const silent = createServer((s) => { sockets.add(s) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const connected = new Promise<void>((resolve) => silent.once('connection', () => { resolve() }))
    try {
      const io = testIo()
      const exit = main(['logs', '--broker', `mqtt://127.0.0.1:${port}`, '--connect-timeout', '30s'], io)
      await connected
      io.controller.abort()
      expect(await exit).toBe(0)
      expect(io.err.text).toBe('')
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => silent.close(() => { resolve() }))
    }
  })

  it('exits 3 with FLEET_ERR_BROKER_UNREACHABLE when nothing listens', async () => {
    const io = testIo()
    const port = await closedPort()
    expect(await main(['logs', '--broker', `mqtt://127.0.0.1:${port}`, '--connect-timeout', '3s'], io)).toBe(3)
    expect(io.err.text).toMatch(new RegExp(`^FLEET_ERR_BROKER_UNREACHABLE: cannot reach mqtt://127\\.0\\.0\\.1:${port}`))
  })
})
