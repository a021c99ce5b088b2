/**
 * Device kinds: which class simulates which kind, and which commands each kind understands.
 *
 * {@link KIND_COMMANDS} is read off the classes themselves (one inert instance of each, never connected), so it
 * cannot drift from the handlers: add a command to a class and it appears here.
 */
import { VirtualClock } from '../core/clock.ts'
import { FleetError } from '../core/errors.ts'
import { silentLogger } from '../core/logger.ts'
import { Random } from '../core/random.ts'
import { createTopics } from '../core/topics.ts'
import { Band } from './band.ts'
import { Camera } from './camera.ts'
import { DEVICE_KINDS, type Device, type DeviceKind, type DeviceRuntime, type DeviceSpec } from './device.ts'
import { DEFAULT_FIRMWARE, DEFAULT_MODELS, DEFAULT_TELEMETRY_MS } from './home.ts'
import { Speaker } from './speaker.ts'

export type DeviceClass = new (spec: DeviceSpec, runtime: DeviceRuntime) => Device

/** The class that simulates each kind. */
export const DEVICE_CLASSES: Readonly<Record<DeviceKind, DeviceClass>> = Object.freeze({
  speaker: Speaker,
  band: Band,
  camera: Camera
})

/** Make the device for a spec, by its kind. Throws FLEET_ERR_OPTIONS_INVALID for a kind that does not exist. */
export function createDevice (spec: DeviceSpec, runtime: DeviceRuntime): Device {
  // The type says DeviceKind, but specs also come from scenario files and other JavaScript.
  const Kind = Object.hasOwn(DEVICE_CLASSES, spec.kind) ? DEVICE_CLASSES[spec.kind] : undefined
  if (Kind === undefined) {
    throw new FleetError('FLEET_ERR_OPTIONS_INVALID', `device ${spec.id}: unknown kind ${JSON.stringify(spec.kind)}; kinds are ${DEVICE_KINDS.join(', ')}`)
  }
  return new Kind(spec, runtime)
}

/** The command names of each kind, in the order the class declares them. */
export const KIND_COMMANDS: Readonly<Record<DeviceKind, readonly string[]>> = (() => {
  // Constructing a device opens nothing: it only forks a random stream and a child logger.
  const runtime: DeviceRuntime = {
    target: { url: 'mqtt://probe.invalid' },
    topics: createTopics(),
    clock: new VirtualClock(0),
    random: new Random(0),
    logger: silentLogger
  }
  const out = {} as Record<DeviceKind, readonly string[]>
  for (const kind of DEVICE_KINDS) {
    const probe = createDevice({
      id: `probe-${kind}`,
      kind,
      model: DEFAULT_MODELS[kind],
      room: 'living room',
      name: `probe ${kind}`,
      firmware: DEFAULT_FIRMWARE[kind],
      home: 'probe',
      telemetryIntervalMs: DEFAULT_TELEMETRY_MS[kind]
    }, runtime)
    out[kind] = Object.freeze(probe.commandNames())
  }
  return Object.freeze(out)
})()
