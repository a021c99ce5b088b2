import { describe, expect, it } from 'vitest'
import { createTopics } from '../../core/topics.ts'
import {
  createLogFilter, formatClock, formatField, formatLogJson, formatLogLine, parseInfoPayload, parseLogPayload, sanitize,
  type DeviceInfo
} from '../../cli/log-format.ts'
import { LogRouter } from '../../cli/log-watch.ts'

const T = Date.UTC(2026, 0, 1, 8, 0, 1, 250)
const kitchen: DeviceInfo = { kind: 'speaker', room: 'kitchen', name: 'Kitchen speaker' }
const log = (o: Record<string, unknown>): string => JSON.stringify({ ts: T, level: 'info', msg: 'hello', ...o })

describe('parseLogPayload', () => {
  it('reads ts, level, msg and keeps the other fields in order', () => {
    expect(parseLogPayload('s1', log({ level: 'warn', msg: 'volume changed', from: 30, to: 40 }), 0)).toEqual({
      deviceId: 's1', ts: T, level: 'warn', msg: 'volume changed', fields: { from: 30, to: 40 }, raw: undefined
    })
  })

  it('accepts pino numeric levels and an ISO time', () => {
    const r = parseLogPayload('s1', JSON.stringify({ time: new Date(T).toISOString(), level: 50, msg: 'x' }), 0)
    expect(r).toMatchObject({ ts: T, level: 'error', fields: {} })
  })

  it('never throws: not JSON, not an object, bad ts, unknown level, non-string msg', () => {
    expect(parseLogPayload('s1', 'plain text', 99)).toMatchObject({ raw: 'plain text', ts: 99, level: undefined })
    expect(parseLogPayload('s1', Buffer.from('[1,2]'), 99)).toMatchObject({ raw: '[1,2]' })
    expect(parseLogPayload('s1', 'null', 99)).toMatchObject({ raw: 'null' })
    expect(parseLogPayload('s1', '', 99)).toMatchObject({ raw: '' })
    expect(parseLogPayload('s1', Buffer.from([0xff, 0xfe, 0x00]), 99).raw).toBeDefined()
    const odd = parseLogPayload('s1', JSON.stringify({ ts: 'soon', level: 'LOUD', msg: { a: 1 } }), 99)
    expect(odd).toMatchObject({ ts: 99, level: undefined, msg: '{"a":1}', fields: { level: 'LOUD' } })
    expect(parseLogPayload('s1', JSON.stringify({ ts: 1e300 }), 99).ts).toBe(99)
  })
})

describe('parseInfoPayload', () => {
  it('reads kind, room and name', () => {
    expect(parseInfoPayload(JSON.stringify({ id: 's1', kind: 'speaker', model: 'x', room: 'kitchen', name: 'K', firmware: '1', home: 'h', tags: {} }))).toEqual({ kind: 'speaker', room: 'kitchen', name: 'K' })
  })
  it('is undefined for a cleared or unreadable payload', () => {
    expect(parseInfoPayload('')).toBeUndefined()
    expect(parseInfoPayload('nope')).toBeUndefined()
    expect(parseInfoPayload('[]')).toBeUndefined()
    expect(parseInfoPayload(JSON.stringify({ kind: 3 }))).toEqual({ kind: undefined, room: undefined, name: undefined })
  })
})

describe('createLogFilter', () => {
  const rec = (deviceId: string, level: string | undefined) =>
    parseLogPayload(deviceId, level === undefined ? 'raw line' : JSON.stringify({ ts: T, level, msg: 'm' }))

  it('filters by device glob and exact id', () => {
    const f = createLogFilter({ devices: ['demo-*', 'band-0001'] })
    expect(f.matchesDevice('demo-kitchen-speaker')).toBe(true)
    expect(f.matchesDevice('band-0001')).toBe(true)
    expect(f.matchesDevice('band-0002')).toBe(false)
    expect(f.exactDevices).toBeUndefined()
    expect(createLogFilter({ devices: ['a', 'b', 'a'] }).exactDevices).toEqual(['a', 'b'])
  })

  it('filters by level: at or above; lines without a level count as info', () => {
    const f = createLogFilter({ minLevel: 'warn' })
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => f.decide(rec('d', l), undefined)))
      .toEqual(['hide', 'hide', 'hide', 'show', 'show', 'show'])
    expect(f.decide(rec('d', undefined), undefined)).toBe('hide')
    expect(createLogFilter({ minLevel: 'info' }).decide(rec('d', undefined), undefined)).toBe('show')
    expect(createLogFilter().decide(rec('d', 'trace'), undefined)).toBe('show')
  })

  it('waits for the info when kind or room is filtered, then decides', () => {
    const f = createLogFilter({ kinds: ['speaker'], rooms: ['kitchen', 'hall'] })
    expect(f.needsInfo).toBe(true)
    expect(f.decide(rec('d', 'info'), undefined)).toBe('wait')
    expect(f.decide(rec('d', 'info'), kitchen)).toBe('show')
    expect(f.decide(rec('d', 'info'), { ...kitchen, kind: 'band' })).toBe('hide')
    expect(f.decide(rec('d', 'info'), { ...kitchen, room: 'bedroom' })).toBe('hide')
    expect(f.decide(rec('d', 'info'), { kind: 'speaker', room: undefined, name: undefined })).toBe('hide')
    expect(createLogFilter({ devices: ['x'] }).needsInfo).toBe(false)
  })

  it('compares rooms as scenarios do: case, accents and separators do not matter', () => {
    const f = createLogFilter({ rooms: ['Living Room', 'kuche'] })
    const inRoom = (room: string): DeviceInfo => ({ kind: 'speaker', room, name: undefined })
    for (const room of ['living room', 'Living Room', 'living-room', 'LIVING_ROOM', 'Küche']) expect(f.decide(rec('d', 'info'), inRoom(room)), room).toBe('show')
    for (const room of ['livingroom', 'living room 2', 'kitchen']) expect(f.decide(rec('d', 'info'), inRoom(room)), room).toBe('hide')
  })
})

describe('formatLogLine', () => {
  it('prints time, level, device, room, message and fields', () => {
    const r = parseLogPayload('demo-kitchen-speaker', log({ level: 'warn', msg: 'volume changed', from: 30, to: 40, note: 'two words', obj: { a: 1 }, ok: true }))
    expect(formatLogLine(r, kitchen, { utc: true })).toBe('08:00:01.250 WARN  demo-kitchen-speaker (kitchen) volume changed from=30 to=40 note="two words" obj={"a":1} ok=true')
  })

  it('leaves the room out while unknown, and shows raw payloads as RAW', () => {
    expect(formatLogLine(parseLogPayload('d1', log({})), undefined, { utc: true })).toBe('08:00:01.250 INFO  d1 hello')
    expect(formatLogLine(parseLogPayload('d1', 'not json', T), kitchen, { utc: true })).toBe('08:00:01.250 RAW   d1 (kitchen) not json')
  })

  it('colours only the level, and only when asked', () => {
    const r = parseLogPayload('d1', log({ level: 'error' }))
    expect(formatLogLine(r, undefined, { utc: true })).not.toContain('\u001b')
    expect(formatLogLine(r, undefined, { utc: true, color: true })).toBe('08:00:01.250 \u001b[31mERROR\u001b[0m d1 hello')
  })

  it('escapes control characters so one record is one line and cannot drive the terminal', () => {
    const r = parseLogPayload('d1', log({ msg: 'evil\u001b[2J\nnext', k: 'a\rb' }))
    const line = formatLogLine(r, undefined, { utc: true })
    expect(line).toBe('08:00:01.250 INFO  d1 evil\\u001b[2J\\nnext k="a\\rb"')
    expect(sanitize('tab\tok')).toBe('tab\tok')
  })

  it('formats fields and clock', () => {
    expect(formatField('a', '')).toBe('a=""')
    expect(formatField('a', 'x=y')).toBe('a="x=y"')
    expect(formatField('a', null)).toBe('a=null')
    expect(formatField('a', [1, 'b'])).toBe('a=[1,"b"]')
    expect(formatClock(Date.UTC(2026, 0, 1, 23, 59, 59, 7), true)).toBe('23:59:59.007')
  })
})

describe('formatLogJson', () => {
  it('has deviceId, kind, room and the fields apart', () => {
    const r = parseLogPayload('d1', log({ level: 'warn', msg: 'm', deviceId: 'spoof', n: 1 }))
    expect(JSON.parse(formatLogJson(r, kitchen))).toEqual({
      time: '2026-01-01T08:00:01.250Z', ts: T, level: 'warn', deviceId: 'd1', kind: 'speaker', room: 'kitchen', name: 'Kitchen speaker', msg: 'm', fields: { deviceId: 'spoof', n: 1 }
    })
  })
  it('uses null for what is unknown, and raw for a payload that is not JSON', () => {
    expect(JSON.parse(formatLogJson(parseLogPayload('d1', 'oops', T), undefined))).toEqual({
      time: '2026-01-01T08:00:01.250Z', ts: T, level: null, deviceId: 'd1', kind: null, room: null, name: null, raw: 'oops'
    })
  })
})

describe('LogRouter', () => {
  const topics = createTopics('home')
  const info = (room: string, kind = 'speaker'): string => JSON.stringify({ id: 'x', kind, room })

  it('shows lines at once without kind/room filters, with the room once known', () => {
    const router = new LogRouter(topics, createLogFilter())
    expect(router.accept('home/d1/log', log({ msg: 'a' })).map((e) => [e.record.msg, e.info?.room])).toEqual([['a', undefined]])
    expect(router.accept('home/d1/info', info('kitchen'))).toEqual([])
    expect(router.accept('home/d1/log', log({ msg: 'b' })).map((e) => [e.record.msg, e.info?.room])).toEqual([['b', 'kitchen']])
  })

  it('holds lines until the info arrives when the filter needs it, then releases the matching ones in order', () => {
    const router = new LogRouter(topics, createLogFilter({ rooms: ['kitchen'] }))
    expect(router.accept('home/d1/log', log({ msg: '1' }))).toEqual([])
    expect(router.accept('home/d1/log', log({ msg: '2' }))).toEqual([])
    expect(router.accept('home/d2/log', log({ msg: 'x' }))).toEqual([])
    expect(router.held).toBe(3)
    expect(router.accept('home/d1/info', info('kitchen')).map((e) => e.record.msg)).toEqual(['1', '2'])
    expect(router.accept('home/d2/info', info('hall'))).toEqual([])
    expect(router.held).toBe(0)
    expect(router.accept('home/d1/log', log({ msg: '3' })).map((e) => e.record.msg)).toEqual(['3'])
    expect(router.accept('home/d2/log', log({ msg: 'y' }))).toEqual([])
  })

  it('bounds what it holds, forgets cleared info, and ignores other topics', () => {
    const router = new LogRouter(topics, createLogFilter({ kinds: ['band'] }), { holdPerDevice: 2 })
    for (const m of ['1', '2', '3']) router.accept('home/d1/log', log({ msg: m }))
    expect(router.held).toBe(2)
    expect(router.dropped).toBe(1)
    expect(router.accept('home/d1/info', info('r', 'band')).map((e) => e.record.msg)).toEqual(['2', '3'])
    router.accept('home/d1/info', '')
    expect(router.accept('home/d1/log', log({ msg: '4' }))).toEqual([]) // held again: the info is forgotten
    expect(router.held).toBe(1)
    expect(router.accept('home/d1/telemetry', '{}')).toEqual([])
    expect(router.accept('other/d1/log', log({}))).toEqual([])
    expect(router.accept('$SYS/x/log', log({}))).toEqual([])
  })

  it('keeps the newest lines of a device that floods before its info, in order', () => {
    const router = new LogRouter(topics, createLogFilter({ rooms: ['kitchen'] }), { holdPerDevice: 1000 })
    for (let i = 0; i < 5500; i++) router.accept('home/d1/log', log({ msg: String(i) }))
    expect([router.held, router.dropped]).toEqual([1000, 4500])
    const shown = router.accept('home/d1/info', info('kitchen')).map((e) => Number(e.record.msg))
    expect(shown).toEqual(Array.from({ length: 1000 }, (_v, i) => 4500 + i))
    expect(router.dropped).toBe(4500) // still counted after the info arrived
  })

  it('uses the time of receipt when a line has no ts', () => {
    const router = new LogRouter(topics, createLogFilter(), { now: () => 42 })
    expect(router.accept('home/d1/log', JSON.stringify({ level: 'info', msg: 'x' }))[0]?.record.ts).toBe(42)
  })
})
