import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { FleetError } from '../../core/errors.ts'
import * as devices from '../../devices/index.ts'
import { Band, Camera, DEVICE_KINDS, KIND_COMMANDS, Speaker, createDevice, type DeviceKind, type DeviceSpec } from '../../devices/index.ts'
import { runtimeFor, specFor } from './helpers.ts'

describe('createDevice', () => {
  it('makes the class for each kind', () => {
    const runtime = runtimeFor(new VirtualClock())
    expect(createDevice(specFor('speaker'), runtime)).toBeInstanceOf(Speaker)
    expect(createDevice(specFor('band'), runtime)).toBeInstanceOf(Band)
    expect(createDevice(specFor('camera'), runtime)).toBeInstanceOf(Camera)
  })

  it('refuses an unknown kind with FLEET_ERR_OPTIONS_INVALID naming it', () => {
    const runtime = runtimeFor(new VirtualClock())
    const spec = { ...specFor('band'), kind: 'toaster' } as unknown as DeviceSpec
    expect(() => createDevice(spec, runtime)).toThrow(FleetError)
    expect(() => createDevice(spec, runtime)).toThrow(/toaster.*speaker, band, camera/)
    const proto = { ...specFor('band'), kind: 'constructor' } as unknown as DeviceSpec
    expect(() => createDevice(proto, runtime)).toThrow(FleetError)
  })
})

describe('KIND_COMMANDS', () => {
  it('lists exactly the commands each kind answers', () => {
    const runtime = runtimeFor(new VirtualClock())
    for (const kind of DEVICE_KINDS) {
      const device = createDevice(specFor(kind), runtime)
      expect(KIND_COMMANDS[kind]).toEqual(device.commandNames())
      for (const name of KIND_COMMANDS[kind]) {
        const reply = device.execute(name, {})
        expect(reply.ok ? 'ok' : reply.error.code, `${kind}.${name}`).not.toBe('UNKNOWN_COMMAND')
      }
    }
  })

  it('covers what the voice bridge needs', () => {
    const needs: Record<DeviceKind, string[]> = {
      speaker: ['turnOn', 'turnOff', 'setVolume', 'changeVolume', 'mute', 'unmute', 'play', 'pause', 'resume', 'next', 'say'],
      band: ['getHeartRate', 'getSteps', 'getBattery', 'findDevice', 'setAlarm'],
      camera: ['turnOn', 'turnOff', 'startStream', 'snapshot', 'setNightMode']
    }
    for (const kind of DEVICE_KINDS) expect(KIND_COMMANDS[kind]).toEqual(expect.arrayContaining(needs[kind]))
    expect(Object.isFrozen(KIND_COMMANDS)).toBe(true)
    expect(Object.isFrozen(KIND_COMMANDS.band)).toBe(true)
  })
})

describe('devices/index.ts', () => {
  it('re-exports the public API', () => {
    for (const name of ['Device', 'Speaker', 'Band', 'Camera', 'createDevice', 'KIND_COMMANDS', 'CommandError', 'arg', 'planHome', 'DEMO_ROOMS', 'DEVICE_KINDS', 'REPLY_STATUS']) {
      expect(devices, name).toHaveProperty(name)
    }
  })
})
