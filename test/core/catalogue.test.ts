import { describe, expect, it } from 'vitest'
import { CATALOGUE, DEVICE_KINDS, checkArgs, checkValue, commandReplyCodes, commandSpec, describeSchema, type CommandSpec, type ValueSchema } from '../../core/catalogue.ts'
import { REPLY_ERROR_CODES } from '../../core/errors.ts'
import { CommandError, REPLY_STATUS } from '../../core/replies.ts'
import { findRoom, resolveRoom, roomName, ROOMS } from '../../core/rooms.ts'

function codeOf (fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return err instanceof CommandError ? err.code : `not a CommandError: ${String(err)}`
  }
}

describe('checkArgs', () => {
  const setVolume = CATALOGUE.speaker.commands.setVolume
  it('returns checked arguments with defaults, dropping the ones the spec does not list', () => {
    expect(checkArgs(setVolume, { level: 30, extra: 1 })).toEqual({ level: 30 })
    expect(checkArgs(CATALOGUE.band.commands.findDevice, {})).toEqual({ durationMs: 5000 })
    expect(checkArgs(CATALOGUE.band.commands.setAlarm, { time: '07:30', label: null })).toEqual({ time: '07:30', label: null, repeat: false })
  })

  it('gives the reply code the schema implies, naming the argument', () => {
    expect(codeOf(() => checkArgs(setVolume, {}))).toBe('INVALID_VALUE')
    expect(codeOf(() => checkArgs(setVolume, { level: '30' }))).toBe('INVALID_VALUE')
    expect(codeOf(() => checkArgs(setVolume, { level: 30.5 }))).toBe('INVALID_VALUE')
    expect(codeOf(() => checkArgs(setVolume, { level: 101 }))).toBe('VALUE_OUT_OF_RANGE')
    expect(codeOf(() => checkArgs(setVolume, { level: Number.NaN }))).toBe('INVALID_VALUE')
    expect(() => checkArgs(setVolume, { level: 101 })).toThrow(/argument "level" must be from 0 to 100, got 101/)
    expect(codeOf(() => checkArgs(CATALOGUE.speaker.commands.say, { text: 'x'.repeat(501) }))).toBe('VALUE_OUT_OF_RANGE')
    expect(codeOf(() => checkArgs(CATALOGUE.speaker.commands.say, { text: '' }))).toBe('INVALID_VALUE')
    expect(codeOf(() => checkArgs(CATALOGUE.camera.commands.startStream, { quality: '4k' }))).toBe('INVALID_VALUE')
    for (const time of ['7:30', '24:00', '07:60', ' 07:30', 730, null]) expect(codeOf(() => checkArgs(CATALOGUE.band.commands.setAlarm, { time })), String(time)).toBe('INVALID_VALUE')
  })

  it('requires one of the arguments a command lists as atLeastOne', () => {
    expect(() => checkArgs(CATALOGUE.camera.commands.setNightMode, {})).toThrow(/give "on" \(true or false\) or "mode" \(one of on, off, auto\)/)
    expect(checkArgs(CATALOGUE.camera.commands.setNightMode, { mode: 'auto' })).toEqual({ mode: 'auto' })
  })

  it('reads booleans as on/off for an enum that accepts them', () => {
    const schema: ValueSchema = CATALOGUE.camera.desired.nightMode.schema
    expect(checkValue(schema, true, '"nightMode"')).toBe('on')
    expect(checkValue(schema, false, '"nightMode"')).toBe('off')
    expect(describeSchema(schema)).toBe('one of on, off, auto, true or false')
  })
})

describe('the catalogue', () => {
  it('lists only known reply codes, each with a status', () => {
    for (const kind of DEVICE_KINDS) {
      for (const spec of Object.values(CATALOGUE[kind].commands) as CommandSpec[]) {
        for (const code of commandReplyCodes(spec)) {
          expect(REPLY_ERROR_CODES).toContain(code)
          expect(REPLY_STATUS[code]).toBeGreaterThanOrEqual(400)
        }
      }
    }
    expect(REPLY_STATUS.UPDATING).toBe(503)
    expect(commandReplyCodes(CATALOGUE.speaker.commands.setVolume)).toEqual(expect.arrayContaining(['UPDATING', 'VALUE_OUT_OF_RANGE', 'DEVICE_OFF']))
  })

  it('looks commands up without inheriting from Object.prototype', () => {
    expect(commandSpec('speaker', 'setVolume')).toBe(CATALOGUE.speaker.commands.setVolume)
    expect(commandSpec('speaker', 'toString')).toBeUndefined()
    expect(commandSpec('constructor', 'setVolume')).toBeUndefined()
  })
})

describe('rooms', () => {
  it('resolves a room from any name in either language, any case, accents or not, with articles', () => {
    const cases: Array<[string, string | undefined]> = [
      ['living room', 'living room'], ['Living Room', 'living room'], ['the living room', 'living room'], ['Salon', 'living room'],
      ['le salon', 'living room'], ['séjour', 'living room'], ['sejour', 'living room'], ['CUISINE', 'kitchen'], ['la cuisine', 'kitchen'],
      ["l'entrée", 'front door'], ['l’entree', 'front door'], ["porte d'entrée", 'front door'], ['Porte d’Entree', 'front door'],
      ['la chambre', 'bedroom'], ['mon bureau', 'office'], ['my study', 'office'], ['le jardin', 'garden'], ['attic', undefined], ['the', undefined], ['', undefined]
    ]
    for (const [text, id] of cases) expect(resolveRoom(text), text).toBe(id)
    expect(findRoom('Salon')).toBe(ROOMS[0])
  })

  it('names a room in a language', () => {
    expect(roomName('living room', 'fr')).toBe('salon')
    expect(roomName('front door', 'fr')).toBe("porte d'entrée")
    expect(roomName('kitchen', 'en')).toBe('kitchen')
    expect(roomName('attic', 'fr')).toBe('attic')
  })
})
