import { describe, expect, it } from 'vitest'
import { findRoom, roomKey, slug } from '../../devices/home.ts'
import { planFleet, selectorMatches } from '../../devices/fleet.ts'

describe('rooms', () => {
  it('finds a room by name or French alias, ignoring case and accents', () => {
    expect(findRoom('Salon')?.id).toBe('living room')
    expect(findRoom("porte d'entree")?.id).toBe('front door')
    expect(findRoom('CUISINE')?.id).toBe('kitchen')
    expect(findRoom('attic')).toBeUndefined()
  })

  it('keeps letters of every script in room keys, so different rooms never collide', () => {
    expect(roomKey('厨房')).not.toBe(roomKey('卧室'))
    expect(roomKey("Porte d'Entrée")).toBe('porte-d-entree')
    expect(slug('厨房')).toBe('') // ids stay ASCII; rooms are compared by roomKey
    const specs = planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: 2, room: '厨房', idPrefix: 'k' }, { kind: 'speaker', count: 3, room: '卧室', idPrefix: 'b' }] })
    expect(specs.filter(selectorMatches({ room: '厨房' })).map((s) => s.id)).toEqual(['k-0001', 'k-0002'])
  })

  it('selects devices by room the same way everywhere: case and accents do not matter', () => {
    const specs = planFleet({})
    const ids = (room: string): string[] => specs.filter(selectorMatches({ room, home: 'demo' })).map((s) => s.id)
    expect(ids('Living Room')).toEqual(ids('living room'))
    expect(ids('Living Room')).toContain('demo-living-room-speaker')
    expect(ids('FRONT DOOR')).toEqual(['demo-front-door-camera'])
  })

  it('selects devices by a room named in French through the API too (cuisine, salon, l\'entrée)', () => {
    const specs = planFleet({})
    const ids = (room: string): string[] => specs.filter(selectorMatches({ room, home: 'demo' })).map((s) => s.id)
    expect(ids('cuisine')).toEqual(['demo-kitchen-speaker'])
    expect(ids('Salon')).toEqual(ids('living room'))
    expect(ids("l'entrée")).toEqual(['demo-front-door-camera'])
  })
})
