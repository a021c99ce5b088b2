/**
 * Voice understanding: a pure, synchronous recognizer over a home's vocabulary.
 *
 * @example
 * const recognizer = createRecognizer({ devices: [{ name: 'kitchen speaker' }] }) // rooms: core/rooms.ts
 * recognizer.parse('Dis Cortana, monte le son de la cuisine')
 * // → { intent: 'ChangeVolume', lang: 'fr', slots: { room: 'kitchen', delta: 10 }, confidence: 1, … }
 */
import { ROOMS, type Room } from '../../core/rooms.ts'
import { Recognizer } from './recognizer.ts'
import { Vocabulary } from './vocabulary.ts'

export { Recognizer, foldValue, type RecognizerOptions } from './recognizer.ts'
export { Vocabulary } from './vocabulary.ts'
export * from './intents.ts'

/** What the recognizer needs to know of a home: its devices' names, and its rooms (default: core/rooms.ts). */
export interface VoiceHome {
  readonly rooms?: readonly Room[]
  readonly devices: Iterable<{ readonly name: string }>
}

/** A recognizer for one home; its vocabulary can be updated afterwards (`recognizer.vocabulary.addDevice`). */
export function createRecognizer (home: VoiceHome): Recognizer {
  const vocabulary = new Vocabulary(home.rooms ?? ROOMS)
  for (const d of home.devices) vocabulary.addDevice(d.name)
  return new Recognizer(vocabulary)
}
