import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { BRIDGE_CHANNELS, CHANNEL_INDEX, CHANNEL_TABLE, CHANNELS, createTopics, topicMatches } from '../../core/topics.ts'
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

  it('builds, filters and parses the bridge namespace, which no device id can collide with', () => {
    expect(t.bridgeStatus()).toBe('home/$bridge/status')
    expect(t.voiceRequest('r1')).toBe('home/$bridge/voice/requests/r1')
    expect(t.voiceAnswer('r1')).toBe('home/$bridge/voice/answers/r1')
    expect(t.rolloutCommand('deploy', 'r2')).toBe('home/$bridge/rollout/commands/deploy/r2')
    expect(t.rolloutReply('r2')).toBe('home/$bridge/rollout/replies/r2')
    expect(t.rolloutDeployment('dep-1')).toBe('home/$bridge/rollout/deployments/dep-1')
    expect(t.rolloutGroup('kitchen')).toBe('home/$bridge/rollout/groups/kitchen')
    expect(t.rolloutFile('contoso.speaker.2.1.0', 'fw.swu')).toBe('home/$bridge/rollout/files/contoso.speaker.2.1.0/fw.swu')
    expect(t.parse('home/$bridge/status')).toEqual({ channel: 'bridgeStatus' })
    expect(t.parse('home/bridge/status')).toEqual({ channel: 'status', deviceId: 'bridge' })
    expect(t.parse(t.voiceRequest('r1'))).toEqual({ channel: 'voiceRequest', rid: 'r1' })
    expect(t.parse(t.rolloutCommand('deploy', 'r2'))).toEqual({ channel: 'rolloutCommand', name: 'deploy', rid: 'r2' })
    expect(t.parse(t.rolloutDeployment('dep-1'))).toEqual({ channel: 'rolloutDeployment', deploymentId: 'dep-1' })
    expect(t.parse(t.rolloutGroup('g'))).toEqual({ channel: 'rolloutGroup', groupId: 'g' })
    expect(t.parse(t.rolloutFile('k', 'f.bin'))).toEqual({ channel: 'rolloutFile', updateKey: 'k', filename: 'f.bin' })
    expect(t.parse('home/$bridge/unknown')).toBeUndefined()
    expect(t.parse('home/$bridgex/status')).toBeUndefined()
    expect(t.parse('home/$other/status')).toBeUndefined()
    expect(t.parse('home/$bridge/voice/requests/$r')).toBeUndefined()
    expect(() => t.status('$bridge')).toThrow(/device id/)
    expect(t.filter('voiceRequest')).toBe('home/$bridge/voice/requests/+')
    expect(t.filter('rolloutFile', 'k')).toBe('home/$bridge/rollout/files/k/+')
    expect(t.filter('rolloutCommand')).toBe('home/$bridge/rollout/commands/+/+')
    expect(t.bridgeAll()).toBe('home/$bridge/#')
    // `{p}/#` still sees the bridge: `$` is not the topic's first character [MQTT-4.7.2-1].
    expect(topicMatches(t.all(), t.bridgeStatus())).toBe(true)
    expect(topicMatches(t.filter('status'), t.bridgeStatus())).toBe(true)
  })

  it('builds, filters and parses every channel of the table the same way', () => {
    expect(CHANNEL_TABLE.map((c) => c.channel)).toEqual([...CHANNELS, ...BRIDGE_CHANNELS])
    for (const { channel, pattern } of CHANNEL_TABLE) {
      const names = [...pattern.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)
      const values = names.map((n, i) => `${n}-${i}`)
      const topic = t.build(channel, ...values)
      expect(topic).toBe(`home/${pattern.replace(/\{(\w+)\}/g, (_m, n: string) => `${n}-${names.indexOf(n)}`)}`)
      expect(t.parse(topic)).toEqual({ channel, ...Object.fromEntries(names.map((n, i) => [n, values[i]])) })
      expect(topicMatches(t.filter(channel), topic), channel).toBe(true)
      const c = t.classifier()
      expect(c.classify(topic)).toBe(CHANNEL_INDEX[channel])
      for (let i = 0; i < names.length; i++) expect(topic.slice(c.spans[2 * i], c.spans[2 * i + 1])).toBe(values[i])
    }
  })

  it('classifies without parsing: channel index and the device id span, -1 outside the contract', () => {
    const c = createTopics('lab/home').classifier()
    expect(c.classify('lab/home/d-7/telemetry')).toBe(CHANNEL_INDEX.telemetry)
    expect('lab/home/d-7/telemetry'.slice(c.spans[0], c.spans[1])).toBe('d-7')
    expect(c.classify('lab/home/d-7/events/motion')).toBe(CHANNEL_INDEX.event)
    expect('lab/home/d-7/events/motion'.slice(c.spans[2], c.spans[3])).toBe('motion')
    for (const topic of ['lab/home/d/telemetryx', 'lab/home/d/telemetry/x', 'lab/home//telemetry', 'lab/home/d', 'lab/home', 'lab/other/d/telemetry', 'home/d/telemetry', 'lab/home/$bridge', 'lab/home/$bridge/status/x', 'lab/home/d/state', 'lab/home/d/events/', 'lab/home/d/commands/x']) {
      expect(c.classify(topic), topic).toBe(-1)
    }
  })

  it('is the table docs/topics.md documents', () => {
    const doc = readFileSync(new URL('../../docs/topics.md', import.meta.url), 'utf8')
    for (const { channel, pattern } of CHANNEL_TABLE) expect(doc, channel).toContain(`| ${channel} | \`{p}/${pattern.replace(/\{deviceId\}/g, '{id}')}\``)
  })
})
