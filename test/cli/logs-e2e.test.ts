/**
 * The journey end to end: real devices of a running fleet log through pino and publish their log lines; `fleet logs`
 * on the same broker shows exactly the selected device's lines.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { Fleet, planFleet } from '../../devices/fleet.ts'
import { Commander } from '../../core/commander.ts'
import { main } from '../../cli/main.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'
import { testIo } from './helpers.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('fleet logs against a running fleet', () => {
  it('follows one device, pretty by default, and a kind as JSON', async () => {
    const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
    const fleet = td.add(new Fleet(planFleet({ demoHome: true }), { target: { url: broker.url! }, seed: 3 }), (f) => f.stop())
    await fleet.start()
    const ctl = td.client(await connectClient(broker.url!))
    const commander = td.add(new Commander(ctl, fleet.topics), (c) => { c.close() })

    const pretty = testIo()
    const prettyRun = main(['logs', '--broker', broker.url!, '--device', 'demo-kitchen-*', '--count', '2'], pretty)
    const json = testIo()
    const jsonRun = main(['logs', '--broker', broker.url!, '--kind', 'band', '--level', 'warn', '--json', '--count', '1'], json)
    // Both watchers are subscribed once the broker has seen their SUBSCRIBEs (2 filters each).
    await new Promise<void>((resolve) => {
      let subs = 0
      const on = (): void => { if (++subs === 2) { broker.off('subscribe', on); resolve() } }
      broker.on('subscribe', on)
    })

    expect(await commander.send('demo-living-room-speaker', 'mute')).toMatchObject({ ok: true }) // not selected
    expect(await commander.send('demo-kitchen-speaker', 'setVolume', { level: 21 })).toMatchObject({ ok: true })
    expect(await commander.send('demo-kitchen-speaker', 'setVolume', { level: 400 })).toMatchObject({ ok: false })
    expect(await commander.send('demo-my-band', 'setAlarm', { time: '7h' })).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE' } })

    expect(await prettyRun).toBe(0)
    expect(pretty.out.lines).toHaveLength(2)
    expect(pretty.out.lines[0]).toMatch(/INFO.*demo-kitchen-speaker.*command setVolume/)
    expect(pretty.out.lines[1]).toMatch(/WARN.*demo-kitchen-speaker.*command setVolume failed.*VALUE_OUT_OF_RANGE/)
    expect(pretty.out.text).not.toContain('demo-living-room-speaker')

    expect(await jsonRun).toBe(0)
    const line = JSON.parse(json.out.lines[0]!) as Record<string, unknown>
    expect(line).toMatchObject({ deviceId: 'demo-my-band', kind: 'band', level: 'warn', msg: 'command setAlarm failed' })
  })
})
