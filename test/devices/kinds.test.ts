import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../core/clock.ts'
import { FleetError } from '../../core/errors.ts'
import * as devices from '../../devices/index.ts'
import { CATALOGUE, CATALOGUE_VERSION, commandReplyCodes, commandSpec, type CommandSpec } from '../../core/catalogue.ts'
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

describe('the command catalogue and the kinds', () => {
  // Both directions: a handler the catalogue does not list, or a catalogue entry no handler answers, fails here.
  it('every kind answers exactly the commands the catalogue lists for it, and accepts exactly its desired properties', () => {
    const runtime = runtimeFor(new VirtualClock())
    for (const kind of DEVICE_KINDS) {
      const device = createDevice(specFor(kind), runtime)
      expect(device.commandNames().slice().sort(), `${kind} commands`).toEqual(Object.keys(CATALOGUE[kind].commands).sort())
      // Desired properties are applied in the catalogue's order, so the order matters too.
      expect(device.desiredNames(), `${kind} desired`).toEqual(Object.keys(CATALOGUE[kind].desired))
      for (const name of KIND_COMMANDS[kind]) {
        const reply = device.execute(name, {})
        expect(reply.ok ? 'ok' : reply.error.code, `${kind}.${name}`).not.toBe('UNKNOWN_COMMAND')
      }
    }
  })

  it('answers only the reply codes the catalogue lists for each command', () => {
    const odd: unknown[] = [undefined, null, true, false, -1, 0, 0.5, 50, 101, 1e9, '', 'x', 'x'.repeat(600), '07:30', '7:30', 'on', '2k', [], {}]
    for (const kind of DEVICE_KINDS) {
      const device = createDevice(specFor(kind), runtimeFor(new VirtualClock()))
      for (const [name, spec] of Object.entries(CATALOGUE[kind].commands) as Array<[string, CommandSpec]>) {
        const allowed = commandReplyCodes(spec)
        const argNames = Object.keys(spec.args)
        for (const v of odd) {
          const args = Object.fromEntries(argNames.map((a) => [a, v]))
          const reply = device.execute(name, args)
          if (!reply.ok) expect(allowed, `${kind}.${name}(${JSON.stringify(args)}) → ${reply.error.code}: ${reply.error.message}`).toContain(reply.error.code)
        }
      }
      // Switched off (or, for a band, emptied), commands that need power answer DEVICE_OFF: listed too.
      if (kind === 'band') (device as Band).battery = 0.001
      device.execute(kind === 'band' ? 'sync' : 'turnOff', {})
      for (const name of KIND_COMMANDS[kind]) {
        const reply = device.execute(name, {})
        if (!reply.ok) expect(commandReplyCodes(commandSpec(kind, name)!), `${kind}.${name} when off → ${reply.error.code}`).toContain(reply.error.code)
      }
    }
  })

  it('covers what the voice bridge needs, under the documented names', () => {
    const needs: Record<DeviceKind, string[]> = {
      speaker: ['turnOn', 'turnOff', 'setVolume', 'changeVolume', 'mute', 'unmute', 'play', 'pause', 'resume', 'next', 'stop', 'say'],
      band: ['findDevice', 'setAlarm', 'cancelAlarm', 'sync', 'getHeartRate', 'getSteps', 'getBattery', 'setCharging'],
      camera: ['turnOn', 'turnOff', 'startStream', 'stopStream', 'snapshot', 'setNightMode']
    }
    for (const kind of DEVICE_KINDS) expect(KIND_COMMANDS[kind]).toEqual(needs[kind])
    expect(Object.isFrozen(KIND_COMMANDS)).toBe(true)
    expect(Object.isFrozen(KIND_COMMANDS.band)).toBe(true)
  })

  it('advertises command and desired property names with the catalogue version in info', () => {
    const device = createDevice(specFor('camera'), runtimeFor(new VirtualClock()))
    expect(device.info()).toMatchObject({ catalogue: CATALOGUE_VERSION, commands: KIND_COMMANDS.camera, desired: ['power', 'nightMode', 'streaming'] })
  })
})

describe('devices/index.ts', () => {
  it('re-exports the public API', () => {
    for (const name of ['Device', 'Speaker', 'Band', 'Camera', 'createDevice', 'KIND_COMMANDS', 'CommandError', 'planHome', 'DEMO_ROOMS', 'DEVICE_KINDS', 'REPLY_STATUS']) {
      expect(devices, name).toHaveProperty(name)
    }
  })
})
