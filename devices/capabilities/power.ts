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

  readonly commands = {
    turnOn: () => { this.on = true; return { power: true } },
    turnOff: () => { this.on = false; this.onTurnOff(); return { power: false } }
  }

  readonly desired = {
    power: (on: boolean) => { if (on) this.commands.turnOn(); else this.commands.turnOff() }
  }

  telemetry (): Record<string, unknown> { return { power: this.on } }
  reported (): Record<string, unknown> { return { power: this.on } }
}
