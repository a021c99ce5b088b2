import { connect as netConnect, createServer, type Socket } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { Writable } from 'node:stream'
import { availableParallelism } from 'node:os'
import { pino } from 'pino'
import { createBroker } from '../../broker/index.ts'
import { FleetError } from '../../core/errors.ts'
import { Device } from '../../devices/device.ts'
import { formatReport, loadScenarioText, runScenario, type ProgressEvent } from '../../scenarios/index.ts'
import { connectClient, nextMessage } from '../helpers/mqtt.ts'
import { closedPort } from '../helpers/net.ts'

/** A small fleet with fast telemetry, so a run of a second or two has plenty to check. */
const FLEET = `
fleet:
  demoHome: false
  groups:
    - { kind: speaker, count: 3, telemetryInterval: 100ms, room: kitchen }
    - { kind: band, count: 2, telemetryInterval: 100ms }
    - { kind: camera, count: 1, telemetryInterval: 100ms, room: garage }
`

const PASSING = `
name: runner passes
seed: 3
duration: 3s
${FLEET}
timeline:
  - at: 0s
    note: start
  - at: 200ms
    command: setVolume
    target: { kind: speaker }
    args: { level: 33 }
  - at: 200ms
    expect:
      state: { target: { kind: speaker }, reported: { volume: 33 } }
    within: 1s
  - at: 700ms
    desired: { volume: 44 }
    target: { device: speaker-0001 }
  - at: 700ms
    expect:
      state: { target: { device: speaker-0001 }, reported: { volume: 44, power: true } }
    within: 1s
  - at: 400ms
    command: say
    target: { device: speaker-0002 }
    args: { text: hello }
  - at: 500ms
    command: setVolume
    target: { device: speaker-0003 }
    args: { level: 500 }
    expect: VALUE_OUT_OF_RANGE
  - at: 500ms
    command: nonsense
    target: { kind: camera }
    payload: "{ not json"
    expect: any
  - at: 1s
    expect:
      telemetry: { target: { kind: band }, min: 3, noSequenceGaps: true, noDuplicates: true, inOrder: true }
      events: { target: { kind: speaker }, name: spoke, min: 1, max: 1 }
      messages: { topic: "home/+/telemetry", min: 10 }
      online: { target: { room: Garage } }
    within: 2s
expect:
  telemetry: { min: 5, noSequenceGaps: true }
  state: { target: { device: speaker-0003 }, reported: { volume: 33 } }
  messages: { topic: "home/+/events/vibrated", max: 0 }
`

/** True when nothing listens on the port any more. */
function refused (url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const s = netConnect(Number(port), hostname)
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', () => { resolve(true) })
  })
}

describe('runScenario over the embedded broker', () => {
  it('runs commands, desired state and checks, reports progress, and closes everything', async () => {
    const events: ProgressEvent[] = []
    const report = await runScenario(loadScenarioText(PASSING, 'passing.yaml'), { onProgress: (e) => events.push(e) })

    expect(report.steps.filter((s) => s.status === 'failed')).toEqual([])
    expect(report.result).toBe('passed')
    expect(report).toMatchObject({ name: 'runner passes', file: 'passing.yaml', seed: 3, speed: 1, embeddedBroker: true, prefix: 'home' })
    expect(report.fleet).toMatchObject({ devices: 6, byKind: { speaker: 3, band: 2, camera: 1 } })
    expect(report.steps.map((s) => s.status)).toEqual(['done', 'passed', 'passed', 'done', 'passed', 'passed', 'passed', 'passed', 'passed'])
    expect(report.steps[1]).toMatchObject({ devices: 3, replies: { ok: 3, errors: {}, timeouts: 0 }, detail: '3 ok' })
    expect(report.steps[6]).toMatchObject({ replies: { ok: 0, errors: { VALUE_OUT_OF_RANGE: 1 } } })
    expect(report.steps[7]).toMatchObject({ replies: { errors: { BAD_REQUEST: 1 } } })
    expect(report.steps[8]?.conditions?.map((c) => c.status)).toEqual(['passed', 'passed', 'passed', 'passed'])
    expect(report.finalChecks.map((c) => [c.status, c.detail])).toEqual([
      ['passed', expect.stringMatching(/^6 devices sent \d+ telemetry messages \(\d+\.\.\d+ each\), no gaps$/)],
      ['passed', 'speaker-0003 reported volume 33'],
      ['passed', '0 messages on home/+/events/vibrated']
    ])
    expect(report.expectations).toEqual({ passed: 9, failed: 0, inconclusive: 0 })
    expect(report.traffic.telemetry).toBeGreaterThanOrEqual(30)
    expect(report.traffic.commands).toBe(6)
    expect(report.traffic.replies).toBe(6)
    expect(report.deviceCounters).toMatchObject({ devices: 6, commandsHandled: 4, badPayloads: 1 })

    // Progress: broker first, then connecting/online, one event per step, a tick, the final checks.
    expect(events[0]).toMatchObject({ type: 'broker', embedded: true, url: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/) })
    expect(events.some((e) => e.type === 'connecting')).toBe(true)
    expect(events.filter((e) => e.type === 'online')).toEqual([{ type: 'online', devices: 6, ms: expect.any(Number) }])
    expect(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(events.some((e) => e.type === 'tick')).toBe(true)
    expect(events.filter((e) => e.type === 'expectation')).toHaveLength(3)

    const text = formatReport(report)
    expect(text.split('\n').at(-1)).toMatch(/^PASSED — 9 of 9 steps run, 0 failed; 9 of 9 expectations passed, in /)
    expect(text).toContain('line 16  setVolume {"level":33} → every speaker — 3 ok')

    // Nothing is left listening.
    const url = (events[0] as Extract<ProgressEvent, { type: 'broker' }>).url as string
    expect(await refused(url)).toBe(true)
  })

  it('runs the same scenario with the embedded broker in a thread of its own (brokerThread: on), and closes it', async () => {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
    const events: ProgressEvent[] = []
    const report = await runScenario(loadScenarioText(PASSING, 'passing.yaml'), { brokerThread: 'on', logger: pino({ level: 'info' }, sink), onProgress: (e) => events.push(e) })
    expect(report.steps.filter((s) => s.status === 'failed')).toEqual([])
    expect(report.result).toBe('passed')
    expect(report.expectations).toEqual({ passed: 9, failed: 0, inconclusive: 0 })
    expect(lines.find((l) => l.msg === 'embedded broker in a thread of its own')).toMatchObject({ threaded: true, devices: 6 })
    expect(report.broker).toMatch(/^embedded mqtt:\/\/127\.0\.0\.1:\d+ \(in its own thread\)$/)
    expect(formatReport(report)).toContain('(in its own thread)')
    // The broker thread's own log lines come through the run's logger.
    expect(lines.some((l) => l.part === 'broker' && l.msg === 'broker listening')).toBe(true)
    const url = (events[0] as Extract<ProgressEvent, { type: 'broker' }>).url as string
    expect(await refused(url)).toBe(true)
  })

  it('moves the broker of a fleet of 2,000 devices or more to its own thread by default, and the run passes', async () => {
    const big = `
name: auto thread
seed: 4
duration: 2s
fleet:
  demoHome: false
  homes: 223
timeline:
  - at: 500ms
    command: setVolume
    target: { kind: speaker, home: home-0042 }
    args: { level: 12 }
expect:
  online: { target: { kind: camera } }
  state: { target: { kind: speaker, home: home-0042 }, reported: { volume: 12 } }
`
    const report = await runScenario(loadScenarioText(big, 'big.yaml'))
    expect(report.fleet.devices).toBeGreaterThanOrEqual(2000)
    // auto moves it on a machine with two cores or more (this project's machines have two).
    if (availableParallelism() >= 2) expect(report.broker).toMatch(/\(in its own thread\)$/)
    else expect(report.broker).not.toContain('thread')
    expect(report.result, formatReport(report)).toBe('passed')
    expect(report.steps[0]).toMatchObject({ devices: 4, replies: { ok: 4 } })
  }, 120_000)

  it('keeps a small fleet\'s broker in the run\'s thread by default, and refuses an unknown brokerThread', async () => {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
    const quick = `name: quick\nduration: 500ms\n${FLEET}\ntimeline:\n  - at: 0s\n    note: start\n`
    const report = await runScenario(loadScenarioText(quick, 'quick.yaml'), { logger: pino({ level: 'info' }, sink) })
    expect(report.result).toBe('passed')
    expect(lines.find((l) => l.msg === "embedded broker in the run's thread")).toMatchObject({ threaded: false, devices: 6 })
    expect(report.broker).toMatch(/^embedded mqtt:\/\/127\.0\.0\.1:\d+$/)
    const err = await runScenario(loadScenarioText(quick, 'quick.yaml'), { brokerThread: 'sometimes' as 'on' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).issues.map((i) => i.path)).toEqual(['brokerThread'])
  })

  it('fails the run when an expectation fails, naming the device', async () => {
    const scenario = loadScenarioText(`
name: runner fails
duration: 800ms
${FLEET}
timeline:
  - at: 100ms
    command: setVolume
    target: { device: speaker-0002 }
    args: { level: 10 }
  - at: 200ms
    command: setVolume
    target: { kind: speaker }
    payload: '{"level": 101}'           # raw, so that loading (which checks args against the catalogue) lets it through
  - at: 300ms
    expect:
      state: { target: { kind: speaker }, reported: { volume: 99 } }
    within: 200ms
expect:
  telemetry: { target: { kind: band }, min: 1000 }
  offline: { target: { kind: camera } }
`, 'failing.yaml')
    const report = await runScenario(scenario)
    expect(report.result).toBe('failed')
    expect(report.steps.map((s) => s.status)).toEqual(['passed', 'failed', 'failed'])
    expect(report.steps[1]?.detail).toMatch(/^expected ok, got speaker-0001 \(VALUE_OUT_OF_RANGE: argument "level" must be from 0 to 100, got 101\), speaker-0002/)
    expect(report.steps[2]?.detail).toMatch(/^3 of 3 speakers differ: speaker-0001 \(volume is \d+, expected 99\), speaker-0002 \(volume is 10, expected 99\), .* \(still not true after 200ms\)$/)
    expect(report.finalChecks.map((c) => c.status)).toEqual(['failed', 'failed'])
    expect(report.finalChecks[0]?.detail).toMatch(/^2 of 2 bands sent fewer than 1000 telemetry messages: band-0001 \(\d+\), band-0002 \(\d+\)$/)
    expect(report.finalChecks[1]?.detail).toBe('1 of 1 camera not offline: camera-0001 (online)')
    expect(report.expectations).toEqual({ passed: 0, failed: 3, inconclusive: 0 })
    expect(formatReport(report).split('\n').at(-1)).toMatch(/^FAILED — 3 of 3 steps run, 2 failed; 0 of 3 expectations passed/)
  })

  it('fails a step whose command gets no reply in time, and carries on with the next steps', async () => {
    // A device that swallows `stop` without answering (the handler error is caught and logged by the device).
    type Execute = (this: Device, ...args: Parameters<Device['execute']>) => ReturnType<Device['execute']>
    const original = Object.getOwnPropertyDescriptor(Device.prototype, 'execute')?.value as Execute
    const spy = vi.spyOn(Device.prototype, 'execute').mockImplementation(function (this: Device, name, payload) {
      if (name === 'stop' && this.id === 'speaker-0002') throw new Error('stuck')
      return original.call(this, name, payload)
    })
    try {
      const report = await runScenario(loadScenarioText(`
name: no reply
duration: 600ms
${FLEET}
timeline:
  - { at: 100ms, command: stop, target: { kind: speaker }, timeout: 300ms }
  - { at: 200ms, command: mute, target: { device: speaker-0002 } }
`, 'timeout.yaml'))
      expect(report.steps.map((s) => s.status)).toEqual(['failed', 'passed'])
      expect(report.steps[0]).toMatchObject({ replies: { ok: 2, timeouts: 1 }, detail: '1 of 3 did not reply within 300ms: speaker-0002' })
      expect(report.result).toBe('failed')
    } finally {
      spy.mockRestore()
    }
  })

  /** Run `scenario` on an embedded broker, aborting at the first progress event `when` picks; returns the broker's URL. */
  async function runAborting (scenario: ReturnType<typeof loadScenarioText>, when: (e: ProgressEvent) => boolean): Promise<{ report: Awaited<ReturnType<typeof runScenario>>; url: string }> {
    const controller = new AbortController()
    let url: string | undefined
    const report = await runScenario(scenario, {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'broker') url = e.url
        if (when(e)) controller.abort()
      }
    })
    return { report, url: url as string }
  }

  it('aborts on the signal: devices stopped, broker closed, remaining steps skipped', async () => {
    const scenario = loadScenarioText(`name: long\n${FLEET}\ntimeline:\n  - { at: 100ms, note: soon }\n  - { at: 30s, note: never }\n`, 'long.yaml')
    const { report, url } = await runAborting(scenario, (e) => e.type === 'step' && e.index === 0)
    expect(report.result).toBe('aborted')
    expect(report.abortReason).toBe('aborted')
    expect(report.steps.map((s) => s.status)).toEqual(['done', 'skipped'])
    expect(report.timelineMs).toBeLessThan(5000)
    expect(formatReport(report).split('\n').at(-1)).toMatch(/^ABORTED aborted — 1 of 2 steps run/)
    expect(await refused(url)).toBe(true)
  })

  it('a check interrupted by an abort is skipped and counts no expectations', async () => {
    const scenario = loadScenarioText([
      'name: check-abort', FLEET, 'timeline:',
      '  - { at: 0s, expect: { messages: { topic: home/nobody/#, min: 1 } }, within: 30s }',
      '  - { at: 300ms, note: abort here }'
    ].join('\n'), 'check-abort.yaml')
    const { report } = await runAborting(scenario, (e) => e.type === 'step' && e.index === 1)
    expect(report.result).toBe('aborted')
    expect(report.steps.map((s) => s.status)).toEqual(['skipped', 'done'])
    expect(report.steps[0]?.conditions).toBeUndefined()
    expect(report.expectations).toEqual({ passed: 0, failed: 0, inconclusive: 0 })
    expect(formatReport(report)).not.toMatch(/✗/)
  })

  it('aborts while the fleet is still connecting, leaving nothing running', async () => {
    const scenario = loadScenarioText('name: big\nfleet: { demoHome: false, groups: [ { kind: band, count: 600 } ], connectRate: 300 }\ntimeline:\n  - { at: 1s, note: never }\n', 'big.yaml')
    const { report, url } = await runAborting(scenario, (e) => e.type === 'connecting' && e.online >= 100)
    expect(report.result).toBe('aborted')
    expect(report.steps[0]?.status).toBe('skipped')
    expect(await refused(url)).toBe(true)
  })

  it('aborts promptly while connecting to a broker that accepts TCP but never answers', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((sock) => { sockets.add(sock) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const port = (silent.address() as { port: number }).port
      const controller = new AbortController()
      // Abort once the observer's TCP connection is open (and waiting forever for a CONNACK).
      silent.once('connection', () => { controller.abort() })
      const report = await runScenario(loadScenarioText(`name: x\n${FLEET}`, 'x.yaml'), { broker: `mqtt://127.0.0.1:${port}`, signal: controller.signal })
      expect(report.result).toBe('aborted')
      // Well under the 10 s connect time-out it would otherwise have waited.
      expect(report.durationMs).toBeLessThan(5000)
    } finally {
      for (const sock of sockets) sock.destroy()
      await new Promise<void>((resolve) => { silent.close(() => { resolve() }) })
    }
  })

  it('resolves at once as aborted when the signal fired before the start', async () => {
    const report = await runScenario(loadScenarioText(`name: x\n${FLEET}`, 'x.yaml'), { signal: AbortSignal.abort() })
    expect(report.result).toBe('aborted')
  })

  it('runs against an external broker URL and leaves no retained desired state behind', async () => {
    const broker = await createBroker({ port: 0 })
    try {
      const scenario = loadScenarioText(`
name: external ok
duration: 300ms
${FLEET}
timeline:
  - { at: 100ms, desired: { volume: 12 }, target: { device: speaker-0001 } }
  - at: 100ms
    expect: { state: { target: { device: speaker-0001 }, reported: { volume: 12 } } }
    within: 1s
`, 'external.yaml')
      const events: ProgressEvent[] = []
      const report = await runScenario(scenario, { broker: broker.url as string, onProgress: (e) => events.push(e) })
      expect(report.result).toBe('passed')
      expect(report).toMatchObject({ broker: broker.url, embeddedBroker: false })
      expect(events[0]).toEqual({ type: 'broker', url: broker.url, embedded: false })
      // Every client the run opened has gone (the broker sees a TCP close a moment after the client does).
      await vi.waitFor(() => { expect(broker.stats().clients).toBe(0) })
      // The retained desired state was cleared, so the next run's devices do not inherit it.
      const probe = await connectClient(broker.url as string)
      const retained: string[] = []
      probe.on('message', (topic, payload) => { if (topic.endsWith('/state/desired') && payload.length > 0) retained.push(topic) })
      await probe.subscribeAsync('home/+/state/desired', { qos: 1 })
      // A round trip through the broker after the subscription: retained messages are delivered before it.
      await probe.subscribeAsync('probe/ping', { qos: 1 })
      const ping = nextMessage(probe, (topic) => topic === 'probe/ping')
      await probe.publishAsync('probe/ping', 'x', { qos: 1 })
      await ping
      await probe.endAsync()
      expect(retained).toEqual([])
    } finally {
      await broker.close()
    }
  })

  it('rejects with FLEET_ERR_BROKER_UNREACHABLE when an external broker refuses connections', async () => {
    const port = await closedPort()
    const scenario = loadScenarioText(`name: external\n${FLEET}\ntimeline:\n  - { at: 1s, note: never }\n`, 'external.yaml')
    const err = await runScenario(scenario, { broker: `mqtt://127.0.0.1:${port}` }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_BROKER_UNREACHABLE')
    expect((err as FleetError).exitCode).toBe(3)
    expect((err as FleetError).message).toContain(`127.0.0.1:${port}`)
  })

  it('refuses bad run options, naming each', async () => {
    const scenario = loadScenarioText(`name: x\n${FLEET}`, 'x.yaml')
    const err = await runScenario(scenario, { broker: 'carrier-pigeon', speed: 0, port: 70000 }).catch((e: unknown) => e) as FleetError
    expect(err.code).toBe('FLEET_ERR_OPTIONS_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual(['broker', 'port', 'speed'])
  })
})
