import type { DeviceKind } from '../core/catalogue.ts'

/** Who a device is. Published retained on its `info` topic. */
export interface DeviceSpec {
  id: string
  kind: DeviceKind
  model: string
  /** Room id, e.g. `kitchen` (core/rooms.ts); lower case. */
  room: string
  /** Human name, e.g. `kitchen speaker`, the way a voice request names it. */
  name: string
  /** The firmware version the device starts with (it may change: see `DeviceContext.setFirmware`). */
  firmware: string
  /** The home this device belongs to (e.g. `demo`, `home-0042`). */
  home: string
  /** Milliseconds between telemetry messages (clock time). */
  telemetryIntervalMs: number
  /** Free tags for grouping (rollout groups use them). */
  tags?: Record<string, string>
}
