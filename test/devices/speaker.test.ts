import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { PLAYLIST, Speaker } from '../../devices/speaker.ts'
import { codeOf, runtimeFor, specFor, tick } from './helpers.ts'

function makeSpeaker (): { speaker: Speaker; clock: VirtualClock } {
  const clock = new VirtualClock()
  return { speaker: new Speaker(specFor('speaker', { telemetryIntervalMs: 10_000 }), runtimeFor(clock)), clock }
}

describe('Speaker commands', () => {
  it('runs every command\'s happy path', () => {
    const { speaker } = makeSpeaker()
    expect(speaker.execute('setVolume', { level: 40 })).toMatchObject({ ok: true, result: { volume: 40 } })
    expect(speaker.execute('changeVolume', { delta: -50 })).toMatchObject({ ok: true, result: { volume: 0 } })
    expect(speaker.execute('changeVolume', { delta: 30 })).toMatchObject({ ok: true, result: { volume: 30 } })
    expect(speaker.execute('mute', {})).toMatchObject({ ok: true, result: { muted: true } })
    expect(speaker.execute('unmute', {})).toMatchObject({ ok: true, result: { muted: false } })
    expect(speaker.execute('play', { track: 'stromae' })).toMatchObject({ ok: true, result: { playback: 'playing', track: PLAYLIST[2] } })
    expect(speaker.execute('pause', {})).toMatchObject({ ok: true, result: { playback: 'paused' } })
    expect(speaker.execute('resume', {})).toMatchObject({ ok: true, result: { playback: 'playing' } })
    expect(speaker.execute('next', {})).toMatchObject({ ok: true, result: { track: PLAYLIST[3] } })
    expect(speaker.execute('stop', {})).toMatchObject({ ok: true, result: { playback: 'stopped' } })
    expect(speaker.execute('say', { text: 'Bonjour' })).toMatchObject({ ok: true, result: { spoken: 'Bonjour' } })
    expect(speaker.execute('turnOff', {})).toMatchObject({ ok: true, result: { power: false } })
    expect(speaker.execute('turnOn', {})).toMatchObject({ ok: true, result: { power: true } })
  })

  it('answers every error code', () => {
    const { speaker } = makeSpeaker()
    expect(codeOf(speaker.execute('setVolume', { level: 101 }))).toBe('VALUE_OUT_OF_RANGE')
    expect(codeOf(speaker.execute('say', { text: 'x'.repeat(501) }))).toBe('VALUE_OUT_OF_RANGE')
    expect(codeOf(speaker.execute('setVolume', { level: 'loud' }))).toBe('INVALID_VALUE')
    expect(codeOf(speaker.execute('play', { track: 'no such song' }))).toBe('INVALID_VALUE')
    expect(codeOf(speaker.execute('pause', {}))).toBe('INVALID_VALUE')
    expect(codeOf(speaker.execute('fly', {}))).toBe('UNKNOWN_COMMAND')
    expect(codeOf(speaker.execute('setVolume', Buffer.from('volume=3')))).toBe('BAD_REQUEST')
    speaker.execute('turnOff', {})
    expect(speaker.execute('setVolume', { level: 10 })).toMatchObject({ ok: false, status: 409, error: { code: 'DEVICE_OFF' } })
  })

  it('moves through the playlist while playing', () => {
    const { speaker, clock } = makeSpeaker()
    speaker.execute('play', {})
    tick(speaker, clock, 21) // 210 s: one track
    expect(speaker.trackIndex).toBe(1)
  })
})
