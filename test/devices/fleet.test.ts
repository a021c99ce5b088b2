import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { DEVICE_COUNTER_NAMES, zeroCounters } from '../../devices/device.ts'
import { Fleet, planFleet } from '../../devices/fleet.ts'

describe('Fleet.counters', () => {
  it('sums every device counter over the fleet', () => {
    const fleet = new Fleet(planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: 3 }] }), { target: { url: 'mqtt://unused.invalid' }, clock: new VirtualClock() })
    // A distinct value per device and counter, so a counter left out of the sum (or summed twice) shows.
    fleet.devices.forEach((d, i) => { DEVICE_COUNTER_NAMES.forEach((name, j) => { d.counters[name] = (i + 1) * 10 ** j }) })
    const expected = zeroCounters()
    DEVICE_COUNTER_NAMES.forEach((name, j) => { expected[name] = 6 * 10 ** j })
    expect(fleet.counters()).toEqual({ devices: 3, online: 0, ...expected })
  })
})
