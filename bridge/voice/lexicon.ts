import type { DeviceKind } from '../../core/catalogue.ts'

/**
 * The closed word lists the recognizer shares across intents (all folded: lower case, no accents). Each list is a
 * decision, documented in docs/voice.md: what may be ignored, what always means "not this home", and which words
 * name a kind of device.
 */

/** Said before the request: removed when followed by `cortana` (`Hey Cortana`, `Dis Cortana`, `Hé Cortana`). */
export const WAKE_LEADS: ReadonlySet<string> = new Set(['hey', 'hi', 'hello', 'ok', 'okay', 'dis', 'he', 'eh', 'salut', 'bonjour', 'yo'])
export const WAKE_WORD = 'cortana'

/**
 * Politeness, hesitation and conversational padding: explained in every intent, never a slot.
 * (`could you please`, `s'il te plaît`, `euh`, `tu peux`…)
 */
export const FILLERS: ReadonlySet<string> = new Set([
  'please', 'pls', 'plz', 'kindly', 'thanks', 'thank', 'um', 'uh', 'er', 'erm', 'hmm', 'oh', 'ok', 'okay', 'so', 'well',
  'just', 'now', 'right', 'actually', 'quickly', 'quick', 'real', 'again', 'could', 'can', 'would', 'will', 'you', 'u',
  'go', 'ahead', 'and', 'then', 'maybe', 'hey', 'cortana', 'want', 'need', 'like', 'id', 'd', 'i', 'll', 've', 'm',
  'wanna', 'gonna', 'lets', 'also', 'yeah', 'yes', 'alright', 'pretty', 'way', 'very',
  's', 'il', 'te', 'plait', 'vous', 'stp', 'svp', 'merci', 'tu', 'peux', 'pourrais', 'pouvez', 'pourriez', 'veux',
  'voudrais', 'euh', 'bon', 'alors', 'ben', 'bah', 'allez', 'hop', 'donc', 'voila', 'maintenant', 'vite', 'est', 'ce',
  'que', 'qu', 'je', 'j', 'et', 'aussi', 'oui', 'rapidement'
])

/** Articles, prepositions and pronouns: explained in every intent (they glue a target to its verb). */
export const GLUE: ReadonlySet<string> = new Set([
  'the', 'a', 'an', 'some', 'any', 'in', 'on', 'at', 'of', 'for', 'from', 'to', 'with', 'into', 'inside', 'my', 'our',
  'your', 'this', 'that', 'these', 'those', 'it', 'them', 'its', 'there', 'here', 'me', 'us', 'by',
  'le', 'la', 'les', 'l', 'un', 'une', 'des', 'du', 'de', 'dans', 'sur', 'au', 'aux', 'a', 'en', 'pour', 'avec', 'mon',
  'ma', 'mes', 'ton', 'ta', 'tes', 'notre', 'nos', 'cet', 'cette', 'ces', 'y', 'moi', 'lui', 'leur', 'chez'
])

/**
 * Words that always mean a request this home cannot serve (lights, weather, timers, shopping, TV, heating, locks…).
 * One of them anywhere makes the utterance `None`: `turn on the lights` must not become a TurnOn of something else.
 */
export const OUT_OF_DOMAIN: ReadonlySet<string> = new Set([
  'light', 'lights', 'lamp', 'lamps', 'bulb', 'bulbs', 'tv', 'television', 'telly', 'thermostat', 'heating', 'heater',
  'temperature', 'degrees', 'weather', 'forecast', 'rain', 'timer', 'timers', 'countdown', 'shopping', 'groceries', 'grocery',
  'list', 'calendar', 'agenda', 'meeting', 'reminder', 'remind', 'joke', 'lock', 'unlock', 'oven', 'fan', 'blinds',
  'shutters', 'curtains', 'vacuum', 'call', 'text', 'email', 'traffic', 'news', 'recipe',
  'lumiere', 'lumieres', 'lampe', 'lampes', 'ampoule', 'tele', 'televiseur', 'chauffage', 'radiateur', 'meteo', 'temps',
  'pluie', 'minuteur', 'minuterie', 'courses', 'liste', 'rappel', 'rappelle', 'blague', 'verrouille', 'four',
  'ventilateur', 'volets', 'rideaux', 'aspirateur', 'appelle', 'degres', 'actualites', 'recette', 'heure'
])

/** Words naming a device kind, in both languages (multi-word ones too). */
export const KIND_WORDS: Readonly<Record<DeviceKind, readonly string[]>> = {
  speaker: ['speaker', 'speakers', 'smart speaker', 'smart speakers', 'enceinte', 'enceintes', 'enceinte connectee',
    'haut parleur', 'haut parleurs', 'hauts parleurs', 'baffle', 'baffles'],
  band: ['band', 'bands', 'wristband', 'fitness band', 'fitness tracker', 'tracker', 'bracelet', 'bracelets',
    'bracelet connecte', 'smartband'],
  camera: ['camera', 'cameras', 'cam', 'cams', 'security camera', 'webcam', 'camera de surveillance']
}

/** Words meaning "all of them" (`all: true`). */
export const ALL_WORDS: readonly string[] = ['all', 'every', 'everything', 'everywhere', 'each', 'whole house',
  'entire house', 'all over the house', 'tous', 'tout', 'toutes', 'partout', 'toute la maison', 'tout le monde']

/** Words that only English or only French uses, beyond the grammars' own: for language detection. */
export const LANGUAGE_HINTS: Readonly<Record<'en' | 'fr', readonly string[]>> = {
  en: ['the', 'my', 'please', 'in', 'of', 'to', 'what', 'is', 'it', 'on', 'at', 'how', 'can', 'you', 'could', 'for',
    'with', 'all', 'hey', 'turn', 'some', 'off', 'up', 'down', 'and', 'me', 'i', 'this', 'from', 'by'],
  fr: ['le', 'la', 'les', 'l', 'du', 'de', 'des', 'mon', 'ma', 'mes', 'dans', 'sur', 'au', 'une', 'un', 'est', 'ce',
    'que', 'qu', 'tu', 'il', 'te', 'plait', 'stp', 'svp', 'dis', 'tous', 'toutes', 'tout', 'moi', 'je', 'j', 'quel',
    'quelle', 'combien', 'et', 'pour', 'avec', 'ou', 'suivant', 'suivante']
}
