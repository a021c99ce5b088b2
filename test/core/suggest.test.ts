import { describe, expect, it } from 'vitest'
import { didYouMean, editDistance, suggest } from '../../core/suggest.ts'

describe('suggest', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('prot', 'port')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
    expect(editDistance('', 'abc')).toBe(3)
  })

  it('suggests the closest known word only when it is a plausible typo', () => {
    expect(suggest('prot', ['port', 'host'])).toBe('port')
    expect(suggest('comand', ['command', 'desired', 'note'])).toBe('command')
    expect(suggest('minMessages', ['min', 'max'])).toBe('min')
    expect(suggest('zebra', ['port', 'host'])).toBeUndefined()
    expect(didYouMean('tagret', ['target'])).toBe(' (did you mean "target"?)')
    expect(didYouMean('zzz', ['target'])).toBe('')
  })
})
