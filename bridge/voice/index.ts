/**
 * Voice understanding: a pure, synchronous recognizer over a home's vocabulary.
 *
 * @example
 * const recognizer = createRecognizer({ rooms: [{ id: 'kitchen', aliases: ['cuisine'] }], devices: [{ name: 'kitchen speaker' }] })
 * recognizer.parse('Dis Cortana, monte le son de la cuisine')
 * // → { intent: 'ChangeVolume', lang: 'fr', slots: { room: 'kitchen', delta: 10 }, confidence: 1, … }
 */
import { Recognizer } from './recognizer.ts'
import { Vocabulary, type VocabularyRoom } from './vocabulary.ts'

export { Recognizer, foldValue, type RecognizerOptions } from './recognizer.ts'
export { Vocabulary, type VocabularyRoom } from './vocabulary.ts'
export * from './intents.ts'

/** What the recognizer needs to know of a home: its rooms (with aliases in any language) and its devices' names. */
export interface VoiceHome {
  readonly rooms: readonly VocabularyRoom[]
  readonly devices: Iterable<{ readonly name: string }>
}

/** A recognizer for one home; its vocabulary can be updated afterwards (`recognizer.vocabulary.addDevice`). */
export function createRecognizer (home: VoiceHome): Recognizer {
  const vocabulary = new Vocabulary(home.rooms)
  for (const d of home.devices) vocabulary.addDevice(d.name)
  return new Recognizer(vocabulary)
}
