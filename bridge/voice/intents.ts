/**
 * The voice contract: intent names, slots and the recognizer's output (LUIS/CLU-like: intent, confidence, slots
 * with the text span each came from, language). `fleet voice parse --json` prints {@link VoiceParse} as it is.
 */
import type { DeviceKind } from '../../core/catalogue.ts'

export const INTENTS = [
  'TurnOn', 'TurnOff', 'SetVolume', 'ChangeVolume', 'Mute', 'Unmute', 'MediaPlay', 'MediaPause', 'MediaResume',
  'MediaNext', 'ShowCamera', 'TakeSnapshot', 'SetNightMode', 'GetHeartRate', 'GetSteps', 'GetBattery', 'FindDevice',
  'SetAlarm', 'CheckForUpdates', 'None'
] as const
export type IntentName = typeof INTENTS[number]

export const LANGS = ['en', 'fr'] as const
export type Lang = typeof LANGS[number]

/** A device kind, as core/catalogue.ts lists them. */
export type DeviceKindName = DeviceKind

/**
 * Slots, named as the contract names them. Targets: `device` (a device's name), `room` (the room id, English, also
 * for a French utterance), `kind`, `all`. A target named twice (`the kitchen and the bedroom`) is a list.
 */
export interface Slots {
  device?: string | string[]
  room?: string | string[]
  kind?: DeviceKindName | DeviceKindName[]
  all?: true
  /** SetVolume: 0–100 as said (150 stays 150: the device refuses it, the bridge says so). */
  level?: number
  /** ChangeVolume: signed; `louder` alone is {@link DEFAULT_VOLUME_STEP}. */
  delta?: number
  /** MediaPlay: what to play, as said. */
  media?: string
  /** SetNightMode. */
  on?: boolean
  /** SetAlarm: `HH:MM`, 24-hour. */
  time?: string
}
export type SlotName = keyof Slots

/** `louder`, `turn it down`, `plus fort` without an amount change the volume by this much. */
export const DEFAULT_VOLUME_STEP = 10

/** One slot's evidence: which words of the utterance it came from (offset and length in UTF-16 units, as CLU). */
export interface SlotSpan { slot: SlotName; text: string; offset: number; length: number }

export interface VoiceParse {
  /** The utterance as given. */
  text: string
  lang: Lang
  intent: IntentName
  /** 0–1: how much of the utterance the template and the home's names explain (1 for a clean match). */
  confidence: number
  slots: Slots
  /** Where each slot came from; a slot set by the template itself (`night mode off` → on) spans the template's words. */
  spans: SlotSpan[]
  /** The template that matched (`en TurnOn: (turn|switch|power) on`), or why it is None. */
  explanation: string
}
