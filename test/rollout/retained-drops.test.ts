/**
 * `fleet rollout serve` on a mosquitto that drops part of the retained burst it owes the service on subscribe
 * (`max_queued_messages`, default 1000, here 20 so 40 devices are enough): the service must say so, in its log and in
 * `fleet rollout status`, naming the setting to change; on a mosquitto without the limit, and for devices that
 * simply retained one message of the two, it must say nothing. The burst comes again after every reconnect and is
 * checked the same way: the warning appears when a reconnect's burst overflows though the first did not, is updated
 * (not repeated) when the next one overflows too, and is cleared once one arrives whole.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { Fleet, planFleet } from '../../devices/fleet.ts'
import { createTopics } from '../../core/topics.ts'
import { testIo, type TestIo } from '../cli/helpers.ts'
import { interopAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { startLinkCutter } from '../helpers/net.ts'
import { Teardown } from '../helpers/teardown.ts'
import { within } from './mqtt-helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

const DEVICES = 40
const PREFIX = 'drops'

/** Mosquitto with these settings and a fleet of {@link DEVICES} speakers online on it (each retains info and reported). */
async function fleetOn (config: string[]): Promise<Mosquitto> {
  const mosquitto = td.add(await startMosquitto({ config }), (m) => m.stop())
  await startFleet(mosquitto.url, DEVICES, 'speaker')
  return mosquitto
}

/**
 * `count` speakers `{idPrefix}-0001`… online on the broker. Resolves once the broker holds each one's info and reported
 * twin: a device publishes both on connect, before the SUBSCRIBE whose SUBACK its start waits for.
 */
async function startFleet (url: string, count: number, idPrefix: string): Promise<Fleet> {
  const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'speaker', count, idPrefix }] }), { target: { url }, prefix: PREFIX, connectRate: 0 }), (f) => f.stop())
  await fleet.start()
  return fleet
}

/** `fleet rollout serve` in-process; resolves once it says it runs. Stopped by the teardown (Ctrl-C). */
async function serve (url: string): Promise<TestIo> {
  const dataDir = td.add(mkdtempSync(join(tmpdir(), 'homefleet-drops-')), (d) => { rmSync(d, { recursive: true, force: true }) })
  const io = testIo()
  const exit = main(['rollout', 'serve', '--broker', url, '--prefix', PREFIX, '--data-dir', dataDir], io)
  td.add(io, async () => { io.controller.abort(); expect(await exit).toBe(0) })
  await io.err.waitFor(/rollout service started/, 20_000)
  return io
}

/**
 * Resolves once the service has logged `re` `n` times in all; rejects after `timeoutMs` naming `what` and showing
 * the log.
 */
async function logged (io: TestIo, re: RegExp, n: number, what: string, timeoutMs = 20_000): Promise<void> {
  try {
    await io.err.waitFor(new RegExp(`(?:[\\s\\S]*?${re.source}){${n}}`), timeoutMs)
  } catch (err) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${n}× ${String(re)} in the service's log)`, { cause: err })
  }
}

interface WarningJson { code: string; message: string; at: string; confirmedAt: string; confirmedAfter: string; confirmations: number }

async function warnings (url: string): Promise<WarningJson[]> {
  return (JSON.parse(await status(url, true)) as { warnings: WarningJson[] }).warnings
}

async function status (url: string, json: boolean): Promise<string> {
  const io = testIo()
  expect(await main(['rollout', 'status', '--broker', url, '--prefix', PREFIX, ...(json ? ['--json'] : [])], io)).toBe(0)
  return io.out.text
}

describe.runIf(interopAvailable(true))('the rollout service on a mosquitto that drops retained messages', () => {
  it('warns, in its log and in fleet rollout status, naming max_queued_messages', async () => {
    const mosquitto = await fleetOn(['max_queued_messages 20'])
    const io = await serve(mosquitto.url)
    // The log line comes before "started": the check runs once the retained burst is over.
    expect(io.err.text).toMatch(/WARN.*RETAINED_DROPPED/)
    expect(io.err.text).toMatch(/the broker dropped retained messages it owed the rollout service on subscribe: it delivered \d+ \(the info of \d+ devices, the reported twins of \d+\)/)
    expect(io.err.text).toContain('set "max_queued_messages 0"')
    const text = await status(mosquitto.url, false)
    expect(text.split('\n')[0]).toMatch(/^warning \[RETAINED_DROPPED\]: the broker dropped retained messages .*max_queued_messages 0/)
    const overview = JSON.parse(await status(mosquitto.url, true)) as { warnings: { code: string; message: string }[] }
    expect(overview.warnings).toEqual([expect.objectContaining({ code: 'RETAINED_DROPPED', message: expect.stringContaining('mosquitto.conf') as unknown })])
    // The symptom itself: mosquitto logged the drops.
    expect(mosquitto.log).toMatch(/Outgoing messages are being dropped/)
  }, 60_000)

  it('says nothing when mosquitto delivers everything, or a device retained only its info', async () => {
    const mosquitto = await fleetOn(['max_queued_messages 0'])
    // Devices that retained their info and never a reported twin: heard on one channel, and nothing held for the other.
    const other = td.client(await connectClient(mosquitto.url))
    const t = createTopics(PREFIX)
    for (const id of ['lamp-1', 'lamp-2', 'lamp-3']) await other.publishAsync(t.info(id), JSON.stringify({ id, kind: 'lamp', tags: {} }), { qos: 1, retain: true })
    const io = await serve(mosquitto.url)
    const overview = JSON.parse(await status(mosquitto.url, true)) as { warnings: unknown[] }
    expect(overview.warnings).toEqual([])
    expect(io.err.text).not.toMatch(/RETAINED_DROPPED|WARN/)
    expect(await within(status(mosquitto.url, false), 15_000, 'fleet rollout status')).not.toMatch(/warning/)
  }, 60_000)

  it('checks again after each reconnect: warns when only a later burst overflows, updates the warning, clears it', async () => {
    const mosquitto = td.add(await startMosquitto({ config: ['max_queued_messages 20'] }), (m) => m.stop())
    // 10 devices retain 20 messages: mosquitto sends them all at once (20 in flight, 20 more may queue).
    await startFleet(mosquitto.url, 10, 'early')
    // The service reaches mosquitto through a link the test can cut; devices and the CLI's client connect directly.
    const link = td.add(await startLinkCutter(mosquitto.port), (l) => l.close())
    const io = await serve(link.url)
    expect(io.err.text).not.toMatch(/RETAINED_DROPPED|WARN/)
    // 30 more join while the service listens, 5 at a time (10 live messages, within mosquitto's limit); the status
    // request after each batch reaches the service behind that batch's messages, so it has heard them all, live.
    const late: Fleet[] = []
    for (let b = 1; b <= 6; b++) {
      late.push(await startFleet(mosquitto.url, 5, `late${b}`))
      expect(await warnings(mosquitto.url)).toEqual([])
    }
    expect(mosquitto.log).not.toMatch(/Outgoing messages are being dropped/)

    // Cut 1: the reconnect's burst is 80 retained messages and mosquitto drops half. Every device is one the service
    // already heard on both channels, so only a check of this connection's own burst can see it.
    link.cut()
    await logged(io, /WARN: lost the connection to the broker/, 1, 'the service noticing cut 1')
    link.restore()
    await logged(io, /WARN: the broker dropped retained messages it owed the rollout service on subscribe after it reconnected: it delivered \d+/, 1, 'the RETAINED_DROPPED warning after reconnect 1')
    expect(link.relayed).toBe(2)
    expect(io.err.text).toMatch(/"code":"RETAINED_DROPPED","after":"reconnect","confirmations":1/)
    expect(mosquitto.log).toMatch(/Outgoing messages are being dropped/)
    const [first, ...more1] = await warnings(mosquitto.url)
    expect(more1).toEqual([])
    expect(first).toMatchObject({ code: 'RETAINED_DROPPED', confirmedAfter: 'reconnect', confirmations: 1, message: expect.stringContaining('max_queued_messages 0') as unknown })
    expect(first?.confirmedAt).toBe(first?.at)
    const text1 = await status(mosquitto.url, false)
    expect(text1.split('\n')[0]).toMatch(/^warning \[RETAINED_DROPPED\]: the broker dropped retained messages .* after it reconnected: .*\(first found \S+; last confirmed \S+ after a reconnect, by 1 check\)$/)

    // Cut 2, the same fleet: confirmed again, one warning with a later confirmation time and a count of 2.
    link.cut()
    await logged(io, /WARN: lost the connection to the broker/, 2, 'the service noticing cut 2')
    link.restore()
    await logged(io, /heard the fleet's retained state again after reconnecting/, 2, 'the check after reconnect 2')
    expect(io.err.text).toMatch(/"code":"RETAINED_DROPPED","after":"reconnect","confirmations":2/)
    const [second, ...more2] = await warnings(mosquitto.url)
    expect(more2).toEqual([])
    expect(second).toMatchObject({ code: 'RETAINED_DROPPED', at: first?.at, confirmedAfter: 'reconnect', confirmations: 2 })
    // At least a reconnect period (1 s) after the first confirmation.
    expect(Date.parse(second?.confirmedAt ?? '')).toBeGreaterThan(Date.parse(first?.confirmedAt ?? ''))
    expect((await status(mosquitto.url, false)).split('\n')[0]).toMatch(/by 2 checks\)$/)

    // Cut 3: the late devices leave and their retained messages are cleared, so the next burst (20) arrives whole:
    // the warning is cleared, in the log and in fleet rollout status.
    link.cut()
    await logged(io, /WARN: lost the connection to the broker/, 3, 'the service noticing cut 3')
    for (const f of late) await f.stop()
    const other = td.client(await connectClient(mosquitto.url))
    const t = createTopics(PREFIX)
    for (let b = 1; b <= 6; b++) {
      for (let i = 1; i <= 5; i++) {
        const id = `late${b}-000${i}`
        await other.publishAsync(t.info(id), '', { qos: 1, retain: true })
        await other.publishAsync(t.reported(id), '', { qos: 1, retain: true })
      }
    }
    link.restore()
    await logged(io, /heard the fleet's retained state again after reconnecting/, 3, 'the check after reconnect 3')
    expect(io.err.text).toMatch(/INFO: the broker delivered every retained message .* the RETAINED_DROPPED warning is cleared/)
    expect(await warnings(mosquitto.url)).toEqual([])
    expect(await status(mosquitto.url, false)).not.toMatch(/warning/)
  }, 90_000)
})
