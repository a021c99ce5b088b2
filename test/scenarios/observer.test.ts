import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createBroker } from '../../broker/index.ts'
import { createTopics } from '../../core/topics.ts'
import { planFleet } from '../../devices/fleet.ts'
import { evaluateCondition, Observer } from '../../scenarios/index.ts'
import { readSeq } from '../../scenarios/observer.ts'
import { loadScenarioText } from '../../scenarios/index.ts'
import { Teardown } from '../helpers/teardown.ts'
import { connectClient } from '../helpers/mqtt.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('readSeq', () => {
  it('reads the integer after "seq": without parsing the JSON', () => {
    expect(readSeq(Buffer.from('{"ts":1,"seq":42,"x":1}'))).toBe(42)
    expect(readSeq(Buffer.from('{"ts":1,"seq": 7}'))).toBe(7)
    expect(readSeq(Buffer.from('{"ts":1}'))).toBe(-1)
    expect(readSeq(Buffer.from('{"seq":"x"}'))).toBe(-1)
  })
})

/**
 * An observer on a fresh embedded broker, and a plain client to publish what devices would; `before` publishes
 * ahead of the observer's subscription (retained state from before a run).
 */
async function observed (prefix = 'home', before?: (pub: MqttClient, topics: ReturnType<typeof createTopics>) => Promise<void>): Promise<{ topics: ReturnType<typeof createTopics>; observer: Observer; pub: MqttClient }> {
  const broker = td.add(await createBroker({ port: 0 }), (b) => b.close())
  const topics = createTopics(prefix)
  const pub = td.client(await connectClient(broker.url as string))
  await before?.(pub, topics)
  const observer = td.add(new Observer({ target: { stream: () => broker.connectInProcess() }, topics }), (o) => o.stop())
  await observer.start()
  return { topics, observer, pub }
}

describe('Observer', () => {
  it('counts telemetry gaps, late arrivals and duplicates per device, and conditions name them', async () => {
    const { topics, observer, pub } = await observed()
    // band-0001: 1 2 5 4 4 7 → 3 and 6 missing, 4 late, one duplicate 4. band-0002: 1 2 3, clean.
    const seqs: Array<[string, number]> = [['band-0001', 1], ['band-0001', 2], ['band-0001', 5], ['band-0001', 4], ['band-0001', 4], ['band-0001', 7], ['band-0002', 1], ['band-0002', 2], ['band-0002', 3]]
    for (const [id, seq] of seqs) await pub.publishAsync(topics.telemetry(id), JSON.stringify({ ts: 1, seq, hr: 70 }), { qos: 1 })
    await pub.publishAsync(topics.status('band-0001'), 'online', { qos: 1, retain: true })
    await pub.publishAsync(topics.event('band-0002', 'vibrated'), '{}', { qos: 1 })
    await vi.waitFor(() => { expect(observer.traffic.events).toBe(1) })

    expect(observer.device('band-0001')).toMatchObject({ telemetry: 6, lastSeq: 7, missing: 2, gaps: [[3, 3], [6, 6]], outOfOrder: 1, duplicates: 1, status: 'online' })
    expect(observer.device('band-0002')).toMatchObject({ telemetry: 3, missing: 0, duplicates: 0, outOfOrder: 0, events: new Map([['vibrated', 1]]) })
    expect(observer.countMatching('home/+/telemetry')).toBe(9)
    expect(observer.countMatching('home/band-0002/#')).toBe(4)

    const specs = planFleet({ demoHome: false, groups: [{ kind: 'band', count: 2 }] })
    const scenario = loadScenarioText([
      'name: x',
      'fleet: { demoHome: false, groups: [ { kind: band, count: 2 } ] }',
      'expect:',
      '  telemetry: { target: { kind: band }, noSequenceGaps: true, noDuplicates: true, inOrder: true }',
      '  online: { target: { kind: band } }'
    ].join('\n'), 'x.yaml')
    const [telemetry, online] = scenario.expect.map((c) => evaluateCondition(c, { specs, observer }))
    expect(telemetry).toEqual({
      verdict: 'failed',
      detail: '1 of 2 bands had sequence gaps: band-0001 (missing 3, 6); 1 of 2 bands sent duplicates: band-0001 (1); 1 of 2 bands had messages out of order: band-0001 (1)'
    })
    expect(online).toEqual({ verdict: 'failed', detail: '1 of 2 bands not online: band-0002 (no status seen)' })
  })

  it('keeps every gap exact past many ranges: a late duplicate cannot hide a lost message', async () => {
    const { topics, observer, pub } = await observed()
    // 1,3,5,…,19 (nine gaps: 2,4,…,18), a duplicate 19, then 2..16 late: 18 never arrives.
    const seqs = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 19, 2, 4, 6, 8, 10, 12, 14, 16]
    for (const seq of seqs) await pub.publishAsync(topics.telemetry('band-0001'), JSON.stringify({ seq }), { qos: 1 })
    await vi.waitFor(() => { expect(observer.device('band-0001')?.telemetry).toBe(seqs.length) })
    expect(observer.device('band-0001')).toMatchObject({ missing: 1, gaps: [[18, 18]], duplicates: 1, outOfOrder: 8 })
  })

  it('treats a reported state that is not a JSON object as unreadable, not as the previous value', async () => {
    const { topics, observer, pub } = await observed()
    await pub.publishAsync(topics.reported('speaker-0001'), '{"volume":30}', { qos: 1 })
    await vi.waitFor(() => { expect(observer.device('speaker-0001')?.reported).toEqual({ volume: 30 }) })
    await pub.publishAsync(topics.reported('speaker-0001'), '{"volume": 9', { qos: 1 })
    await vi.waitFor(() => { expect(observer.device('speaker-0001')?.reportedUnreadable).toBe(true) })
    expect(observer.device('speaker-0001')?.reported).toBeUndefined()
    const specs = planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: 1 }] })
    const scenario = loadScenarioText('name: x\nfleet: { demoHome: false, groups: [ { kind: speaker, count: 1 } ] }\nexpect:\n  state: { target: { kind: speaker }, reported: { volume: 30 } }\n', 'x.yaml')
    const [state] = scenario.expect.map((c) => evaluateCondition(c, { specs, observer }))
    expect(state?.verdict).toBe('failed')
    expect(state?.detail).toMatch(/speaker-0001 \(reported state unreadable/)
  })

  it('counts commands (the runner\'s own) and replies per device, not per request id, and filters still count each one', async () => {
    const { topics, observer, pub } = await observed()
    expect(observer.countMatching('home/+/commands/#')).toBe(0)
    for (let i = 1; i <= 5; i++) {
      observer.countCommand('spk-1', 'setVolume', 2)
      await pub.publishAsync(topics.reply('spk-1', `r-${i}`), '{"ok":true}', { qos: 1 })
    }
    observer.countCommand('spk-1', 'mute', 2)
    expect(observer.traffic.commands).toBe(6)
    await vi.waitFor(() => { expect(observer.traffic.replies).toBe(5) })
    expect([...observer.topicCounts.keys()].sort()).toEqual(['home/spk-1/commands/mute/+', 'home/spk-1/commands/setVolume/+', 'home/spk-1/replies/+'])
    // Asked again after more traffic: the filter's earlier answer is not reused stale.
    expect(observer.countMatching('home/+/commands/setVolume/+')).toBe(5)
    expect(observer.countMatching('home/spk-1/replies/r-3')).toBe(0) // request ids are not kept
    observer.countCommand('spk-1', 'setVolume', 2)
    observer.countCommand('spk-2', 'setVolume', 2)
    expect(observer.countMatching('home/+/commands/setVolume/+')).toBe(7)
    expect(observer.countMatching('home/+/commands/#')).toBe(8)
    // A device's replies are its own messages; commands are not.
    expect(observer.device('spk-1')?.messages).toBe(5)
  })

  it('collapses request ids only on the command and reply channels, even under a prefix named commands', async () => {
    const { topics, observer, pub } = await observed('acme/commands')
    await pub.publishAsync(topics.status('cam-1'), 'online', { qos: 1 })
    await pub.publishAsync(topics.telemetry('cam-1'), '{"seq":1}', { qos: 1 })
    await vi.waitFor(() => { expect(observer.traffic.telemetry).toBe(1) })
    expect(observer.countMatching('acme/commands/cam-1/status')).toBe(1)
    expect(observer.countMatching('acme/commands/+/telemetry')).toBe(1)
    expect(observer.device('cam-1')?.status).toBe('online')
  })

  it('never takes retained status and state from before the run for this run\'s, nor counts them as traffic', async () => {
    const { topics, observer, pub } = await observed('home', async (p, t) => {
      await p.publishAsync(t.status('spk-1'), 'online', { qos: 1, retain: true })
      await p.publishAsync(t.reported('spk-1'), '{"volume":12}', { qos: 1, retain: true })
    })
    // start() returned after the retained burst (its sync marker came after it).
    expect(observer.traffic.retainedAtStart).toBe(2)
    expect(observer.device('spk-1')).toBeUndefined()
    expect(observer.retainedOnline).toEqual(new Set(['spk-1']))
    expect(observer.retainedTopics).toEqual(new Set([topics.status('spk-1'), topics.reported('spk-1')]))
    expect(observer.traffic.messages).toBe(0)
    expect(observer.countMatching('home/#')).toBe(0)
    await pub.publishAsync(topics.status('spk-1'), 'offline', { qos: 1, retain: true })
    await vi.waitFor(() => { expect(observer.device('spk-1')?.status).toBe('offline') })
    expect(observer.traffic).toMatchObject({ messages: 1, status: 1, retainedAtStart: 2 })
    expect(observer.countMatching('home/#')).toBe(1)
  })
})
