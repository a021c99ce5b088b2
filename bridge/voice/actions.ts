/**
 * What each intent asks of each kind of device: the catalogue command (core/catalogue.ts) and its arguments from the
 * slots. A device "supports" an intent when its kind has an action for it and its `info` advertises that command.
 * CheckForUpdates sends nothing: it answers from the firmware the device's `info` gives.
 */
import { commandSpec } from '../../core/catalogue.ts'
import type { KnownDevice } from '../home.ts'
import type { IntentName, Slots } from './intents.ts'

export interface Action {
  readonly command: string
  readonly args: (slots: Slots) => Record<string, unknown>
}

const none = (): Record<string, unknown> => ({})

/** Intent → kind → action. The order of kinds is the order targets are listed in answers. */
export const ACTIONS: Readonly<Partial<Record<IntentName, Readonly<Record<string, Action>>>>> = {
  TurnOn: { speaker: { command: 'turnOn', args: none }, camera: { command: 'turnOn', args: none } },
  TurnOff: { speaker: { command: 'turnOff', args: none }, camera: { command: 'turnOff', args: none } },
  SetVolume: { speaker: { command: 'setVolume', args: (s) => ({ level: s.level }) } },
  ChangeVolume: { speaker: { command: 'changeVolume', args: (s) => ({ delta: s.delta }) } },
  Mute: { speaker: { command: 'mute', args: none } },
  Unmute: { speaker: { command: 'unmute', args: none } },
  MediaPlay: { speaker: { command: 'play', args: (s) => s.media === undefined ? {} : { track: s.media } } },
  MediaPause: { speaker: { command: 'pause', args: none } },
  MediaResume: { speaker: { command: 'resume', args: none } },
  MediaNext: { speaker: { command: 'next', args: none } },
  ShowCamera: { camera: { command: 'startStream', args: none } },
  TakeSnapshot: { camera: { command: 'snapshot', args: none } },
  SetNightMode: { camera: { command: 'setNightMode', args: (s) => ({ on: s.on }) } },
  GetHeartRate: { band: { command: 'getHeartRate', args: none } },
  GetSteps: { band: { command: 'getSteps', args: none } },
  GetBattery: { band: { command: 'getBattery', args: none } },
  FindDevice: { band: { command: 'findDevice', args: none } },
  SetAlarm: { band: { command: 'setAlarm', args: (s) => ({ time: s.time }) } }
}

/** Intents answered without a command to the device. */
export const INFO_INTENTS: ReadonlySet<IntentName> = new Set(['CheckForUpdates'])

/** The action for this device, if its kind has one and it advertises the command (and the catalogue knows it). */
export function actionFor (intent: IntentName, device: KnownDevice): Action | undefined {
  const a = ACTIONS[intent]?.[device.kind]
  if (a === undefined) return undefined
  if (device.commands.size > 0 && !device.commands.has(a.command)) return undefined
  return commandSpec(device.kind, a.command) === undefined ? undefined : a
}

/** Can this device serve the intent at all (a command, or an answer from what its info says)? */
export function supports (intent: IntentName, device: KnownDevice): boolean {
  return INFO_INTENTS.has(intent) || actionFor(intent, device) !== undefined
}

/** Intents about the wearer, not a place: the speaker's room says nothing about which band is meant. */
export const PERSONAL_INTENTS: ReadonlySet<IntentName> = new Set(['GetHeartRate', 'GetSteps', 'GetBattery', 'FindDevice', 'SetAlarm'])
