import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../core/duration.ts'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500], ['2s', 2000], ['1.5m', 90_000], ['1h', 3_600_000], ['1m30s', 90_000], ['1h 2m', 3_720_000],
    ['00:30', 30_000], ['1:02:03', 3_723_000], ['0:00.5', 500], ['.5s', 500], ['0', 0], [0, 0], [' 2S ', 2000]
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each([['30'], [30], ['2 sec'], ['1:75'], ['1:60:00'], [''], ['s'], ['-1s'], [null], [{}]])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })
})

describe('formatDuration', () => {
  it.each([[0, '0s'], [850, '850ms'], [2000, '2s'], [2500, '2.5s'], [65_000, '1m05s'], [3_720_000, '1h02m']])('%d → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})
