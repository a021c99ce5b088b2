/**
 * A broker restarted mid-run on the same port, and a command step that meets a device in the middle of its
 * resubscription: connected again (CONNACK) but its command subscription not acknowledged yet. With a clean session
 * the broker has no subscription for the device then, so a command published in that window goes to nobody. The
 * race is held open with broker hooks instead of being timed:
 *
 * - the old broker, once the restart has begun, never lets a command through (the runner's client keeps it unacked
 *   and sends it again to the new broker), so no command can slip in before the outage;
 * - the new broker lets the runner's client in only once the device's SUBSCRIBE has arrived (the device is past its
 *   CONNACK before the runner can send anything), and holds that SUBSCRIBE until the command has been routed and the
 *   runner's own reply subscription is in place: the command is published while the device is not subscribed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createBroker, type BrokerClient, type BrokerSubscription } from '../../broker/index.ts'
import { createTopics } from '../../core/topics.ts'
import { formatReport, loadScenarioText, runScenario, type ProgressEvent, type ScenarioReport } from '../../scenarios/index.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

const topics = createTopics('home')
const DEVICE = 'speaker-0001'
const RUN_ID = 'restart-run'

/** A speaker, a broker restart at 100 ms, and a command at the same `at` just after it (file order). */
function scenario (timeout: string): string {
  return `
name: command during resubscribe
seed: 11
duration: 1s
fleet:
  demoHome: false
  groups:
    - { kind: speaker, count: 1, telemetryInterval: 200ms }
timeline:
  - { at: 100ms, note: the broker restarts }
  - { at: 100ms, command: setVolume, target: { device: ${DEVICE} }, args: { level: 42 }, timeout: ${timeout} }
expect:
  state: { target: { device: ${DEVICE} }, reported: { volume: 42 } }
`
}

/** A promise and the function that settles it, for hooks that wait on what another connection does. */
function signal (): { promise: Promise<void>; fire: () => void; fired: () => boolean } {
  let fire = (): void => undefined
  let done = false
  const promise = new Promise<void>((resolve) => { fire = () => { done = true; resolve() } })
  return { promise, fire, fired: () => done }
}

/** `p`, or a rejection naming what it waited for after `ms`. */
function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`waited ${ms} ms for ${what}`)) }, ms) })])
    .finally(() => { clearTimeout(timer) })
}

/**
 * Run the scenario on a broker of the test's, restarted on the same port when the note step runs. The new broker
 * holds the device's command SUBSCRIBE until the command has been routed (to nobody) and the runner's reply
 * subscription is in place, or for good with `neverSubscribe`.
 */
async function runWithRestart (options: { timeout: string; neverSubscribe?: boolean }): Promise<{ report: ScenarioReport; events: ProgressEvent[]; commandsAtNewBroker: string[] }> {
  let restarting = false
  const first = td.add(await createBroker({
    port: 0,
    // Once the restart has begun, a command is never routed here: it must meet the new broker.
    authorizePublish: (_client, message) => !(restarting && topics.parse(message.topic)?.channel === 'command') || new Promise<boolean>(() => undefined)
  }), (b) => b.close())
  const port = first.port as number

  const deviceSubscribing = signal() // the device's SUBSCRIBE for its commands reached the new broker
  const commandRouted = signal() // the runner's command was routed by the new broker (to no subscriber)
  const repliesSubscribed = signal() // the runner's reply subscription is in place on the new broker
  const subscribeReleased = signal()
  const never = new Promise<void>(() => undefined)
  const commandFilter = topics.filter('command', DEVICE)
  const isDevice = (c: BrokerClient): boolean => c.id.endsWith(`:${DEVICE}`)
  const isRunner = (c: BrokerClient): boolean => c.id.endsWith(`${RUN_ID}-runner`)
  const commandsAtNewBroker: string[] = []

  const restart = async (): Promise<void> => {
    await first.close()
    const second = td.add(await createBroker({
      port,
      authenticate: async (client) => {
        if (isRunner(client)) await deviceSubscribing.promise
        return true
      },
      authorizeSubscribe: async (client: BrokerClient, sub: BrokerSubscription) => {
        if (isDevice(client) && sub.topic === commandFilter) {
          deviceSubscribing.fire()
          await (options.neverSubscribe === true ? never : Promise.all([commandRouted.promise, repliesSubscribed.promise]))
          subscribeReleased.fire()
        }
        return true
      }
    }), (b) => b.close())
    second.on('publish', (message) => {
      if (topics.parse(message.topic)?.channel !== 'command') return
      commandsAtNewBroker.push(`${message.topic}${subscribeReleased.fired() ? '' : ' (device not subscribed)'}`)
      commandRouted.fire()
    })
    second.on('subscribe', (subs, client) => {
      if (isRunner(client) && subs.some((s) => s.topic === topics.filter('reply') && Number(s.qos) !== 128)) repliesSubscribed.fire()
    })
  }

  let restarted: Promise<void> | undefined
  const events: ProgressEvent[] = []
  const report = await runScenario(loadScenarioText(scenario(options.timeout), 'restart.yaml'), {
    broker: first.url as string,
    runId: RUN_ID,
    brokerGraceMs: 20_000,
    onProgress: (e) => {
      events.push(e)
      // The note runs just before the command (same `at`, file order): the restart begins before the command is sent.
      if (e.type === 'step' && e.index === 0) { restarting = true; restarted = restart() }
    }
  })
  await within(restarted ?? Promise.reject(new Error('the restart never began')), 10_000, 'the broker restart')
  return { report, events, commandsAtNewBroker }
}

describe('a broker restarted mid-run', () => {
  it('a command sent while the device resubscribes reaches it (sent again once it announces itself online), and the step passes', async () => {
    const { report, events, commandsAtNewBroker } = await runWithRestart({ timeout: '15s' })
    // The race happened as arranged: the new broker routed the command while the device was not subscribed.
    expect(commandsAtNewBroker[0]).toMatch(new RegExp(`^${topics.prefix}/${DEVICE}/commands/setVolume/\\S+ \\(device not subscribed\\)$`))
    expect(events.some((e) => e.type === 'broker-lost')).toBe(true)
    expect(events.some((e) => e.type === 'broker-back')).toBe(true)
    // And it reached the device all the same: the step passed, the device ran the command once.
    const step = report.steps[1]
    expect(step?.status, formatReport(report)).toBe('passed')
    expect(step?.detail).toBe('ok {"volume":42}')
    expect(report.deviceCounters?.commandsHandled).toBe(1)
    expect(report.result, formatReport(report)).toBe('passed')
  }, 60_000)

  it('a device that never gets its subscription back fails the step, which says why', async () => {
    const { report, commandsAtNewBroker } = await runWithRestart({ timeout: '2s', neverSubscribe: true })
    expect(commandsAtNewBroker[0]).toMatch(/ \(device not subscribed\)$/)
    const step = report.steps[1]
    expect(step?.status, formatReport(report)).toBe('failed')
    expect(step?.detail).toBe(`1 of 1 did not reply within 2s: ${DEVICE} (not online again since the broker went away)`)
    expect(report.deviceCounters?.commandsHandled).toBe(0)
    expect(report.result).toBe('failed')
  }, 60_000)
})
