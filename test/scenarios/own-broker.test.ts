/**
 * Runs against a broker of one's own: a real mosquitto started by the test, stock configuration unless a test says
 * otherwise. The verdict must be about the devices, never about the observer, and no run may hang.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { builtinScenarioPath, exitCodeOf, formatReport, loadScenarioFile, loadScenarioText, runScenario, type ProgressEvent, type ScenarioReport } from '../../scenarios/index.ts'
import { interopAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { pino, type Logger } from 'pino'

const td = new Teardown()
afterEach(async () => { await td.run() })

async function mosquitto (config: readonly string[] = []): Promise<Mosquitto> {
  return td.add(await startMosquitto({ config }), (m) => m.stop())
}

/** A logger whose lines (warn and above) are kept as parsed JSON. */
function warnLog (): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, logger: pino({ level: 'warn' }, { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } }) }
}

/** The runs whose announcements were withdrawn, with the reason each log line gives. */
function withdrawn (lines: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const l of lines) if (String(l.msg).startsWith('withdrawing a stale run announcement')) out[String(l.run)] = l.reason
  return out
}

/** Steps and checks that failed, with their details, for a readable assertion message. */
function failures (report: ScenarioReport): string[] {
  return [
    ...report.steps.filter((s) => s.status === 'failed').map((s) => `line ${s.line}: ${s.description} — ${s.detail ?? ''}`),
    ...report.finalChecks.filter((c) => c.status === 'failed').map((c) => `line ${c.line}: ${c.description} — ${c.detail}`)
  ]
}

/** A few homes, commands to every speaker, state, telemetry and presence checks: about 6 s. */
const SMALL = `
name: small fleet
seed: 3
duration: 6s
fleet:
  demoHome: false
  homes: 12
  telemetryInterval: { band: 1s, speaker: 2s, camera: 2s }
timeline:
  - { at: 500ms, command: setVolume, target: { kind: speaker }, args: { level: 33 } }
  - at: 1s
    expect:
      state: { target: { kind: speaker }, reported: { volume: 33 } }
    within: 3s
  - { at: 2s, command: sync, target: { kind: band } }
expect:
  telemetry: { target: { kind: band }, min: 3, noSequenceGaps: true, noDuplicates: true }
  online: { target: { kind: camera } }
  messages: { topic: home/+/replies/+, min: 60, max: 60 }
`

describe.runIf(interopAvailable(true))('runs on a stock mosquitto', () => {
  it('the demo passes twice in a row on one broker (retained state of the first run is never taken for the second\'s)', async () => {
    const broker = await mosquitto()
    const demo = await loadScenarioFile(builtinScenarioPath('demo') as string)
    const first = await runScenario(demo, { broker: broker.url })
    expect(failures(first)).toEqual([])
    expect(first.result).toBe('passed')
    const second = await runScenario(demo, { broker: broker.url })
    expect(failures(second)).toEqual([])
    expect(second.result, formatReport(second)).toBe('passed')
    // The first run's retained status, info and reported state were there, and ignored.
    expect(second.observer?.staleIgnored).toBeGreaterThan(900)
  }, 180_000)

  it('two runs at once with different prefixes both pass; with the same prefix the second is refused (exit 3)', async () => {
    const broker = await mosquitto()
    const scenario = loadScenarioText(SMALL, 'small.yaml')
    let online!: () => void
    const firstOnline = new Promise<void>((resolve) => { online = resolve })
    const first = runScenario(scenario, { broker: broker.url, onProgress: (e: ProgressEvent) => { if (e.type === 'online') online() } })
    await firstOnline
    const [beside, refused] = await Promise.allSettled([
      runScenario(scenario, { broker: broker.url, prefix: 'beside' }),
      runScenario(scenario, { broker: broker.url })
    ])
    const a = await first
    expect(failures(a)).toEqual([])
    expect(a.result).toBe('passed')
    expect(beside.status === 'fulfilled' ? failures(beside.value) : beside.reason).toEqual([])
    expect(beside.status === 'fulfilled' && beside.value.result).toBe('passed')
    expect(refused.status).toBe('rejected')
    expect((refused as PromiseRejectedResult).reason).toMatchObject({
      code: 'FLEET_ERR_RUN_CONFLICT',
      exitCode: 3,
      message: expect.stringMatching(/^another run is live under the topic prefix "home" on mqtt:\/\/127\.0\.0\.1:\d+: run \S+ of "small fleet" .*--prefix home-2/) as unknown
    })
    // Client ids carry the prefix: no run took another's sessions over.
    expect(broker.log).not.toMatch(/already connected, closing old connection/)
  }, 120_000)

  it('an announcement whose run is gone (its broker died with it, so no last will) is withdrawn, and the run goes ahead', async () => {
    const broker = await mosquitto()
    // Two leftovers: a run of another host that does not answer a probe, and one of this host whose process is gone.
    const gonePid = spawnSync(process.execPath, ['-e', '0']).pid
    const leftovers = {
      'remote-1': { runId: 'remote-1', scenario: 'old', host: 'elsewhere.example', pid: 4242, startedAt: '2026-01-01T00:00:00.000Z' },
      'local-1': { runId: 'local-1', scenario: 'old', host: hostname(), pid: gonePid, startedAt: '2026-01-01T00:00:00.000Z' }
    }
    const client = td.add(await connectClient(broker.url), (c) => c.endAsync())
    for (const [id, a] of Object.entries(leftovers)) await client.publishAsync(`home/.run/${id}`, JSON.stringify(a), { qos: 1, retain: true })
    const log = warnLog()
    const report = await runScenario(loadScenarioText(SMALL, 'small.yaml'), { broker: broker.url, logger: log.logger })
    expect(failures(report)).toEqual([])
    expect(report.result).toBe('passed')
    expect(withdrawn(log.lines)).toEqual({ 'remote-1': 'no answer', 'local-1': 'process gone' })
    // Both retained announcements are gone from the broker: a fresh subscription gets none of them (retained messages
    // come before a message published after the SUBACK, on one connection).
    const seen: string[] = []
    const synced = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('waited 10 s for the sync message after the retained ones')) }, 10_000)
      client.on('message', (topic, payload) => {
        if (topic === 'home/.sync-end') { clearTimeout(timer); resolve() } else if (payload.length > 0) seen.push(topic)
      })
    })
    await client.subscribeAsync(['home/.run/+', 'home/.sync-end'], { qos: 1 })
    await client.publishAsync('home/.sync-end', 'x', { qos: 1 })
    await synced
    expect(seen).toEqual([])
  }, 120_000)

  it('an announcement of this host whose process is gone is withdrawn on the pid alone, without waiting for a probe', async () => {
    const broker = await mosquitto()
    const gonePid = spawnSync(process.execPath, ['-e', '0']).pid
    const client = td.add(await connectClient(broker.url), (c) => c.endAsync())
    await client.publishAsync('home/.run/local-2', JSON.stringify({ runId: 'local-2', scenario: 'old', host: hostname(), pid: gonePid, startedAt: '2026-01-01T00:00:00.000Z' }), { qos: 1, retain: true })
    const log = warnLog()
    const report = await runScenario(loadScenarioText(SMALL, 'small.yaml'), { broker: broker.url, logger: log.logger })
    expect(report.result, formatReport(report)).toBe('passed')
    // The reason names the pid check; a probe (no answer within 5 s) would name itself.
    expect(withdrawn(log.lines)).toEqual({ 'local-2': 'process gone' })
    expect(log.lines.find((l) => l.run === 'local-2')?.msg).toBe(`withdrawing a stale run announcement: its process (pid ${gonePid}) on this host is gone`)
  }, 120_000)

  it('with max_queued_messages 100 a run passes or ends inconclusive with the observer\'s loss in plain words, never failing devices', async () => {
    const broker = await mosquitto(['max_queued_messages 100'])
    const report = await runScenario(loadScenarioText(SMALL.replace('homes: 12', 'homes: 40').replace('min: 60, max: 60', 'min: 200, max: 200'), 'queued.yaml'), { broker: broker.url })
    expect(failures(report)).toEqual([])
    expect(['passed', 'inconclusive']).toContain(report.result)
    if (report.result === 'inconclusive') {
      expect(exitCodeOf(report)).toBe(4)
      expect(report.observer?.missed).toBeGreaterThan(0)
      expect(formatReport(report)).toMatch(/Observer: the observer missed [\d,]+ of [\d,]+ messages the devices sent; .*max_queued_messages/)
      expect(formatReport(report)).toMatch(/\nINCONCLUSIVE — /)
    }
  }, 120_000)

  it('a broker killed mid-run ends the run with result broker-lost (exit 3) within the grace period', async () => {
    const broker = await mosquitto()
    const graceMs = 1500
    let killedAt = 0
    let killed: Promise<void> | undefined
    const report = await runScenario(loadScenarioText(SMALL.replace('duration: 6s', 'duration: 60s'), 'killed.yaml'), {
      broker: broker.url,
      brokerGraceMs: graceMs,
      onProgress: (e) => {
        if (e.type === 'step' && killed === undefined) { killedAt = performance.now(); killed = broker.kill() }
      }
    })
    const endedAfter = performance.now() - killedAt
    await killed
    expect(report.result).toBe('broker-lost')
    expect(exitCodeOf(report)).toBe(3)
    expect(report.brokerLost).toMatch(new RegExp(`lost the broker ${broker.url.replace(/\./g, '\\.')}: no connection for 1\\.5s`))
    // The grace period, plus tear-down: seconds, not the 60 s of the scenario.
    expect(endedAfter).toBeGreaterThanOrEqual(graceMs)
    expect(endedAfter).toBeLessThan(graceMs + 12_000)
  }, 60_000)

  it('a broker restarted within the grace period lets the run finish', async () => {
    const broker = await mosquitto()
    let restarted: Promise<void> | undefined
    const report = await runScenario(loadScenarioText(SMALL.replace('duration: 6s', 'duration: 9s'), 'restarted.yaml'), {
      broker: broker.url,
      brokerGraceMs: 15_000,
      onProgress: (e) => {
        if (e.type === 'step' && e.index === 1 && restarted === undefined) restarted = broker.kill().then(() => broker.restart())
      }
    })
    await restarted
    expect(report.result, formatReport(report)).not.toBe('broker-lost')
    expect(report.steps.every((s) => s.status !== 'skipped')).toBe(true)
    expect(report.finalChecks).toHaveLength(3)
    expect(report.observer?.reconnects).toBeGreaterThanOrEqual(2) // both of its connections came back
    // The fleet came back too: every camera online again at the end, by the devices' own account.
    expect(report.deviceCounters?.online).toBe(report.fleet.devices)
  }, 90_000)
})
