/**
 * `fleet rollout serve` on a mosquitto that drops part of the retained burst it owes the service on subscribe
 * (`max_queued_messages`, default 1000, here 20 so 40 devices are enough): the service must say so, in its log and in
 * `fleet rollout status`, naming the setting to change; on a mosquitto without the limit, and for devices that
 * simply retained one message of the two, it must say nothing.
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
import { Teardown } from '../helpers/teardown.ts'
import { within } from './mqtt-helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

const DEVICES = 40
const PREFIX = 'drops'

/** Mosquitto with these settings and a fleet of {@link DEVICES} speakers online on it (each retains info and reported). */
async function fleetOn (config: string[]): Promise<Mosquitto> {
  const mosquitto = td.add(await startMosquitto({ config }), (m) => m.stop())
  const fleet = td.add(new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: DEVICES }] }), { target: { url: mosquitto.url }, prefix: PREFIX, connectRate: 0 }), (f) => f.stop())
  await fleet.start()
  return mosquitto
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
})
