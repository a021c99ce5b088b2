import { describe, expect, it } from 'vitest'
import { RetainedTrie } from '../../broker/retained-index.ts'

const pkt = (topic: string): { topic: string; payload: Buffer } => ({ topic, payload: Buffer.from(topic) })
const topics = (list: Array<{ topic: string }>): string[] => list.map((p) => p.topic).sort()

describe('RetainedTrie', () => {
  const t = new RetainedTrie()
  for (const topic of ['home/a/status', 'home/b/status', 'home/a/state/reported', 'home', '$SYS/x/uptime', 'other/a/status']) t.set(pkt(topic))

  it('answers exact filters', () => {
    expect(topics(t.match('home/a/status'))).toEqual(['home/a/status'])
    expect(t.match('home/c/status')).toEqual([])
  })

  it('answers + and # filters, with # matching the parent level', () => {
    expect(topics(t.match('home/+/status'))).toEqual(['home/a/status', 'home/b/status'])
    expect(topics(t.match('+/a/status'))).toEqual(['home/a/status', 'other/a/status'])
    expect(topics(t.match('home/#'))).toEqual(['home', 'home/a/state/reported', 'home/a/status', 'home/b/status'])
    expect(topics(t.match('home/a/+/+'))).toEqual(['home/a/state/reported'])
  })

  it('never matches $ topics with a leading wildcard [MQTT-4.7.2-1]', () => {
    expect(topics(t.match('#'))).not.toContain('$SYS/x/uptime')
    expect(topics(t.match('+/x/uptime'))).toEqual([])
    expect(topics(t.match('$SYS/#'))).toEqual(['$SYS/x/uptime'])
  })

  it('replaces, deletes and prunes', () => {
    const u = new RetainedTrie()
    u.set(pkt('a/b/c'))
    u.set({ topic: 'a/b/c', payload: Buffer.from('new') })
    expect(u.size).toBe(1)
    expect(u.match('a/b/c')[0]?.payload.toString()).toBe('new')
    u.delete('a/b/c')
    u.delete('a/b/c')
    expect(u.size).toBe(0)
    expect(u.match('#')).toEqual([])
  })
})
