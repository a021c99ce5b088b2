/**
 * Bounded fan-out: a step that targets hundreds of devices has at most FAN_OUT_WINDOW requests outstanding at once,
 * seen from the broker (commands received without their reply yet; desired-state publishes not yet acknowledged).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { boundedMap } from '../../scenarios/fan-out.ts'
import { FAN_OUT_WINDOW } from '../../scenarios/runner.ts'
import { loadScenarioText, runScenario } from '../../scenarios/index.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('boundedMap', () => {
  it('keeps at most `limit` calls in flight and returns the results in item order', async () => {
    let inFlight = 0
    let peak = 0
    const items = Array.from({ length: 1000 }, (_, i) => i)
    const out = await boundedMap(items, 7, async (n) => {
      peak = Math.max(peak, ++inFlight)
      // Finish out of order: later items sometimes settle first.
      await new Promise((resolve) => setTimeout(resolve, n % 3))
      inFlight--
      return n * 2
    })
    expect(peak).toBe(7)
    expect(out).toEqual(items.map((n) => n * 2))
  })

  it('starts nothing after the first failure, waits for the calls in flight, and rejects with that failure', async () => {
    const started: number[] = []
    let settled = 0
    const run = boundedMap(Array.from({ length: 100 }, (_, i) => i), 4, async (n) => {
      started.push(n)
      await new Promise((resolve) => setImmediate(resolve))
      settled++
      if (n === 5) throw new Error('item 5 failed')
      return n
    })
    await expect(run).rejects.toThrow('item 5 failed')
    expect(started.length).toBeLessThan(12)
    expect(settled).toBe(started.length)
  })

  it('refuses a limit that is not a positive integer', async () => {
    await expect(boundedMap([1], 0, (n) => Promise.resolve(n))).rejects.toThrow(RangeError)
  })
})

describe('the scenario runner fans out to many devices within a window', () => {
  it(`keeps at most ${FAN_OUT_WINDOW} commands and ${FAN_OUT_WINDOW} desired-state publishes outstanding for a step over 400 devices`, async () => {
    const devices = 400
    let commandsOut = 0
    let commandPeak = 0
    let desiredHeld = 0
    let desiredPeak = 0
    const broker = td.add(await createBroker({
      port: 0,
      // Sees every PUBLISH as the broker receives it; a promise holds the PUBACK until it settles.
      authorizePublish: (_client, message) => {
        if (/^home\/[^/]+\/commands\//.test(message.topic)) commandPeak = Math.max(commandPeak, ++commandsOut)
        else if (/^home\/[^/]+\/replies\//.test(message.topic)) commandsOut--
        else if (/^home\/[^/]+\/state\/desired$/.test(message.topic) && message.payload.length > 0) {
          desiredPeak = Math.max(desiredPeak, ++desiredHeld)
          // Acknowledge on a later turn, so a publisher that does not wait for acknowledgements shows a high peak.
          return new Promise<boolean>((resolve) => { setTimeout(() => { desiredHeld--; resolve(true) }, 5) })
        }
        return true
      }
    }), (b) => b.close())
    const scenario = loadScenarioText(`
name: fan-out
seed: 5
duration: 4s
fleet:
  demoHome: false
  groups:
    - { kind: speaker, count: ${devices}, telemetryInterval: 10s }
timeline:
  - { at: 0s, command: setVolume, target: { kind: speaker }, args: { level: 21 } }
  - { at: 0s, desired: { volume: 22 }, target: { kind: speaker } }
`, 'fan-out.yaml')
    const report = await runScenario(scenario, { broker: broker.url as string })
    const steps = report.steps.map((s) => `${s.description}: ${s.status} ${s.detail ?? ''}`)
    expect(report.steps.every((s) => s.status === 'passed' || s.status === 'done'), steps.join('\n')).toBe(true)
    expect(report.steps[0]?.replies?.ok).toBe(devices)
    // The window was used (requests overlapped) and never exceeded.
    expect(commandPeak).toBeGreaterThan(1)
    expect(commandPeak).toBeLessThanOrEqual(FAN_OUT_WINDOW)
    expect(desiredPeak).toBeGreaterThan(1)
    expect(desiredPeak).toBeLessThanOrEqual(FAN_OUT_WINDOW)
  }, 120_000)
})
