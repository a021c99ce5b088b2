import { describe, expect, it } from 'vitest'
import { MessageRouter, type RoutedPacket } from '../../broker/router.ts'
import { SubscriptionTrie } from '../../broker/subscription-trie.ts'

describe('SubscriptionTrie', () => {
  const matches = (filters: string[], topic: string): string[] => {
    const trie = new SubscriptionTrie<string>()
    for (const f of filters) trie.add(f, f)
    return trie.match(topic).sort()
  }

  it('matches exact levels, + for one level (even an empty one) and # for the parent and everything below', () => {
    const filters = ['a/b', 'a/+', '+/b', 'a/#', '#', 'a/b/c', 'a/+/c', 'b/#']
    expect(matches(filters, 'a/b')).toEqual(['#', '+/b', 'a/#', 'a/+', 'a/b'])
    expect(matches(filters, 'a')).toEqual(['#', 'a/#']) // [MQTT-4.7.1-2]
    expect(matches(filters, 'a/')).toEqual(['#', 'a/#', 'a/+']) // [MQTT-4.7.1-3]: + matches an empty level
    expect(matches(filters, 'a/x/c')).toEqual(['#', 'a/#', 'a/+/c'])
    expect(matches(filters, 'c')).toEqual(['#'])
  })

  it('removes one subscription at a time and prunes empty branches', () => {
    const trie = new SubscriptionTrie<number>()
    trie.add('a/+/c', 1)
    trie.add('a/+/c', 2)
    trie.add('a/#', 3)
    expect(trie.size).toBe(3)
    expect(trie.remove('a/+/c', 1)).toBe(true)
    expect(trie.remove('a/+/c', 1)).toBe(false)
    expect(trie.match('a/b/c')).toEqual([3, 2])
    expect(trie.remove('a/#', 3)).toBe(true)
    expect(trie.remove('a/+/c', 2)).toBe(true)
    expect(trie.size).toBe(0)
    expect(trie.match('a/b/c')).toEqual([])
    expect(trie.remove('x/y', 9)).toBe(false)
  })
})

describe('MessageRouter', () => {
  it('delivers to every matching listener and calls back once all are done', () => {
    const router = new MessageRouter({ concurrency: 10 })
    const seen: string[] = []
    const held: Array<() => void> = []
    router.on('a/+', (p, done) => { seen.push(`1:${p.topic}`); done() })
    router.on('a/#', (p, done) => { seen.push(`2:${p.topic}`); held.push(done) })
    let completed = 0
    router.emit({ topic: 'a/b' }, () => { completed++ })
    expect(seen).toEqual(['2:a/b', '1:a/b'])
    expect(completed).toBe(0)
    held[0]?.()
    expect(completed).toBe(1)
    expect(router.stats()).toMatchObject({ routed: 1, deliveries: 2, inFlight: 0, backlog: 0 })
  })

  it('holds messages past its concurrency in arrival order and starts them as slots free up', () => {
    const router = new MessageRouter({ concurrency: 2 })
    const held: Array<() => void> = []
    const started: string[] = []
    router.on('#', (p, done) => { started.push(p.topic); held.push(done) })
    for (let i = 0; i < 5; i++) router.emit({ topic: `t${i}` })
    expect(started).toEqual(['t0', 't1'])
    expect(router.stats()).toMatchObject({ inFlight: 2, backlog: 3, backlogPeak: 3 })
    held.shift()?.()
    expect(started).toEqual(['t0', 't1', 't2'])
    // A message emitted while others wait goes behind them [MQTT-4.6.0-5].
    router.emit({ topic: 't5' })
    while (held.length > 0) held.shift()?.()
    expect(started).toEqual(['t0', 't1', 't2', 't3', 't4', 't5'])
    expect(router.stats()).toMatchObject({ inFlight: 0, backlog: 0 })
  })

  it('drains a backlog of 200,000 unmatched messages without growing the stack (mqemitter recursed once per message)', () => {
    const router = new MessageRouter({ concurrency: 1 })
    let release: (() => void) | undefined
    router.on('busy', (_p, done) => { release = done })
    router.emit({ topic: 'busy' })
    let completed = 0
    const n = 200_000
    for (let i = 0; i < n; i++) router.emit({ topic: 'nobody/listens' } satisfies RoutedPacket, () => { completed++ })
    expect(router.stats().backlog).toBe(n)
    expect(() => release?.()).not.toThrow()
    expect(completed).toBe(n)
    expect(router.stats()).toMatchObject({ backlog: 0, inFlight: 0 })
  })

  it('refuses messages once closed', async () => {
    const router = new MessageRouter({ concurrency: 1 })
    await new Promise<void>((resolve) => { router.close(resolve) })
    const err = await new Promise<Error | null | undefined>((resolve) => { router.emit({ topic: 'x' }, resolve) })
    expect(err?.message).toMatch(/closed/)
  })
})
