/** Device kinds: which class simulates which kind. What each kind answers is the command catalogue, in core/. */
import { FleetError } from '../core/errors.ts'
import { Band } from './band.ts'
import { Camera } from './camera.ts'
import { DEVICE_KINDS, type Device, type DeviceKind, type DeviceRuntime, type DeviceSpec } from './device.ts'
import { Speaker } from './speaker.ts'

export type DeviceClass = new (spec: DeviceSpec, runtime: DeviceRuntime) => Device

/** The class that simulates each kind. */
export const DEVICE_CLASSES: Readonly<Record<DeviceKind, DeviceClass>> = Object.freeze({
  speaker: Speaker,
  band: Band,
  camera: Camera
})

/**
 * Make the device for a spec, by its kind, with the runtime's plug-in capabilities after the kind's own. Throws
 * FLEET_ERR_OPTIONS_INVALID for a kind that does not exist or a capability that does not fit it.
 */
export function createDevice (spec: DeviceSpec, runtime: DeviceRuntime): Device {
  // The type says DeviceKind, but specs also come from scenario files and other JavaScript.
  const Kind = Object.hasOwn(DEVICE_CLASSES, spec.kind) ? DEVICE_CLASSES[spec.kind] : undefined
  if (Kind === undefined) {
    throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `device ${spec.id}: unknown kind ${JSON.stringify(spec.kind)}; kinds are ${DEVICE_KINDS.join(', ')}`)
  }
  const device = new Kind(spec, runtime)
  for (const make of runtime.capabilities ?? []) device.use(make)
  return device
}

/**
 * The command names of each kind: the catalogue's (core/catalogue.ts), which every kind implements exactly
 * (test/devices/kinds.test.ts checks both directions).
 */
export { KIND_COMMANDS, KIND_DESIRED } from '../core/catalogue.ts'
