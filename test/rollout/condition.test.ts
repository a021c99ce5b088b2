/** Target conditions: IoT Hub-style queries over tags and reported properties, versions compared as semver. */
import { describe, expect, it } from 'vitest'
import { compareVersions, parseCondition } from '../../bridge/rollout/condition.ts'
import { FleetError } from '../../core/errors.ts'

const subject = { deviceId: 'k-1', tags: { room: 'kitchen', ADUGroup: 'lab', floor: 2 }, reported: { firmware: '1.10.0', power: true, deviceUpdate: { agent: { state: 0 } } } }

describe('target conditions', () => {
  it.each([
    ["tags.room = 'kitchen' AND properties.reported.firmware < '2.1.0'", true],
    ["tags.room = 'kitchen' AND properties.reported.firmware < '1.9.0'", false], // 1.10.0 > 1.9.0 by semver, not by text
    ["properties.reported.firmware >= '1.10'", true],
    ["properties.reported.firmware > '1.10.0-beta.2'", true],
    ["tags.room = 'bedroom' OR tags.floor = 2", true],
    ["NOT (tags.room = 'kitchen')", false],
    ["tags.room <> 'kitchen'", false],
    ["tags.room != 'bedroom'", true],
    ["tags.room IN ('bedroom', 'kitchen')", true],
    ['properties.reported.power = true', true],
    ['properties.reported.deviceUpdate.agent.state = 0', true],
    ["deviceId = 'k-1'", true],
    ["tags.missing = 'x'", false],
    ['tags.missing IS_DEFINED', false],
    ['tags.room IS_DEFINED and tags.floor > 1', true],
    ["tags.room = 'it''s'", false]
  ])('%s → %s', (src, expected) => {
    expect(parseCondition(src)(subject)).toBe(expected)
  })

  it.each([
    ['', /is empty/],
    ["tags.room = 'kitchen", /not closed/],
    ['tags.room ==', /expected a value/],
    ["room = 'x'", /not deviceId, tags.NAME or properties.reported.NAME/],
    ["tags.room = 'x' AND", /expected a comparison/],
    ["(tags.room = 'x'", /expected "\)"/],
    ["tags.room = 'x' tags.a = 'b'", /unexpected "tags.a" at column 17/]
  ])('refuses %j', (src, message) => {
    const err = (() => { try { parseCondition(src); return undefined } catch (e) { return e } })() as FleetError
    expect(err).toBeInstanceOf(FleetError)
    expect(err.code).toBe('FLEET_ERR_ROLLOUT_INVALID')
    expect(err.message).toMatch(message)
  })

  it('compares versions by semantic version precedence', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBe(1)
    expect(compareVersions('2.1', '2.1.0')).toBe(0)
    expect(compareVersions('2.1.0-rc.1', '2.1.0')).toBe(-1)
    expect(compareVersions('2.1.0-rc.2', '2.1.0-rc.10')).toBe(-1)
    expect(compareVersions('2.1.0-alpha', '2.1.0-1')).toBe(1)
    expect(compareVersions('kitchen', '1.0')).toBeUndefined()
  })
})
