/**
 * Power, the capability speakers and cameras share: `turnOn` / `turnOff` (both idempotent), the desired `power`
 * property, and `power` first in telemetry and reported state. What switching off does to the rest of the device
 * (a speaker pauses, a camera stops streaming) is the kind's business: it passes `onTurnOff`.
 */
import { CommandError } from '../../core/replies.ts'
import type { Capability } from '../capability.ts'

export class PowerCapability implements Capability {
  readonly name = 'power'
  on = true
  private readonly deviceName: string
  private readonly onTurnOff: () => void

  constructor (deviceName: string, onTurnOff: () => void = () => undefined) {
    this.deviceName = deviceName
    this.onTurnOff = onTurnOff
  }

  /** Throws DEVICE_OFF unless the device is on: for every command but the power ones. */
  requireOn (): void {
    if (!this.on) throw new CommandError('DEVICE_OFF', `${this.deviceName} is off; send turnOn first`)
  }

  // Methods closing over `cap`, not arrow-function properties: one object per device either way, but tsx gives every
  // arrow stored under a key a `name` property of its own, ~250 bytes each (docs/devices.md, "Memory per device").
  readonly commands = ((cap: PowerCapability) => ({
    turnOn () { cap.on = true; return { power: true } },
    turnOff () { cap.on = false; cap.onTurnOff(); return { power: false } }
  }))(this)

  readonly desired = ((cap: PowerCapability) => ({
    power (on: boolean) { if (on) cap.commands.turnOn(); else cap.commands.turnOff() }
  }))(this)

  telemetry (): Record<string, unknown> { return { power: this.on } }
  reported (): Record<string, unknown> { return { power: this.on } }
}
