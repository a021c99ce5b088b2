import { describe, expect, it } from 'vitest'
import { createTopics, topicMatches } from '../../core/topics.ts'
import { FleetError } from '../../core/errors.ts'

describe('topic contract', () => {
  const t = createTopics()

  it('builds every channel under the default prefix', () => {
    expect(t.status('d1')).toBe('home/d1/status')
    expect(t.info('d1')).toBe('home/d1/info')
    expect(t.telemetry('d1')).toBe('home/d1/telemetry')
    expect(t.event('d1', 'motion')).toBe('home/d1/events/motion')
    expect(t.reported('d1')).toBe('home/d1/state/reported')
    expect(t.desired('d1')).toBe('home/d1/state/desired')
    expect(t.command('d1', 'setVolume', 'r1')).toBe('home/d1/commands/setVolume/r1')
    expect(t.reply('d1', 'r1')).toBe('home/d1/replies/r1')
    expect(t.log('d1')).toBe('home/d1/log')
  })

  it('parses what it builds, for every channel', () => {
    expect(t.parse(t.status('a'))).toEqual({ channel: 'status', deviceId: 'a' })
    expect(t.parse(t.event('a', 'motion'))).toEqual({ channel: 'event', deviceId: 'a', name: 'motion' })
    expect(t.parse(t.command('a', 'say', 'x1'))).toEqual({ channel: 'command', deviceId: 'a', name: 'say', rid: 'x1' })
    expect(t.parse(t.reply('a', 'x1'))).toEqual({ channel: 'reply', deviceId: 'a', rid: 'x1' })
    expect(t.parse(t.desired('a'))).toEqual({ channel: 'desired', deviceId: 'a' })
    expect(t.parse(t.reported('a'))).toEqual({ channel: 'reported', deviceId: 'a' })
  })

  it('returns undefined for topics outside the contract', () => {
    expect(t.parse('other/a/status')).toBeUndefined()
    expect(t.parse('home/a/unknown')).toBeUndefined()
    expect(t.parse('home/a/commands/x')).toBeUndefined()
    expect(t.parse('$SYS/broker/uptime')).toBeUndefined()
    expect(t.parse('home')).toBeUndefined()
    // A request id or name that could not be built (and so never answered) is not a command of the contract.
    expect(t.parse('home/a/commands/mute/$r1')).toBeUndefined()
    expect(t.parse('home/a/commands/$x/r1')).toBeUndefined()
    expect(t.parse('home/a/replies/$r1')).toBeUndefined()
  })

  it('supports a multi-level prefix', () => {
    const lab = createTopics('lab/home')
    expect(lab.telemetry('d')).toBe('lab/home/d/telemetry')
    expect(lab.parse('lab/home/d/telemetry')).toEqual({ channel: 'telemetry', deviceId: 'd' })
    expect(lab.parse('lab/other/d/telemetry')).toBeUndefined()
    expect(lab.filter('event', '+', 'motion')).toBe('lab/home/+/events/motion')
  })

  it('rejects ids and prefixes that would break topic structure', () => {
    expect(() => t.status('a/b')).toThrow(FleetError)
    expect(() => t.status('a+')).toThrow(/device id/)
    expect(() => t.status('')).toThrow(/empty/)
    expect(() => createTopics('home/#')).toThrow(/prefix/)
    expect(() => createTopics('')).toThrow(/prefix/)
  })

  it('builds filters that match the topics they are for', () => {
    expect(topicMatches(t.filter('command', 'd1'), t.command('d1', 'mute', 'r'))).toBe(true)
    expect(topicMatches(t.filter('command', 'd1'), t.command('d2', 'mute', 'r'))).toBe(false)
    expect(topicMatches(t.filter('telemetry'), t.telemetry('x'))).toBe(true)
    expect(topicMatches(t.all(), t.log('x'))).toBe(true)
  })

  it('matches MQTT wildcards as the spec says', () => {
    expect(topicMatches('a/#', 'a')).toBe(true)
    expect(topicMatches('a/+', 'a/b/c')).toBe(false)
    expect(topicMatches('#', '$SYS/x')).toBe(false)
    expect(topicMatches('+/x', '$SYS/x')).toBe(false)
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true)
  })
})
