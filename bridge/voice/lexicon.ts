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
  'que', 'qu', 'je', 'j', 'et', 'aussi', 'oui', 'rapidement',
  // Particles and time adverbs that never change what is asked: `turn it back on`, `pause for a second`,
  // `coupe le son deux minutes` (a number right before a duration word is explained with it, see the recognizer).
  'back', 'be', 'really', 'still', 'yet', 'already', 'first', 'sec', 'second', 'seconds', 'minute', 'minutes', 'moment',
  'while', 'instant', 'seconde', 'secondes', 'encore', 'deja', 'vraiment', 'peu', 'petit',
  // Copulas and modals around the request: `the music is too quiet`, `the garden camera needs night vision on`.
  'is', 'are', 'was', 'were', 'been', 'should', 'must', 'needs', 'ought', 'shall', 'sont', 'etre', 'etait', 'doit',
  'dois', 'devrait', 'faut',
  // When, not what: `shut everything down for the night`, `réveille-moi dans la nuit`, `ce soir`.
  'today', 'tonight', 'tomorrow', 'night', 'evening', 'afternoon', 'later', 'soon', 'aujourd', 'hui', 'soir', 'nuit',
  'demain', 'matin', 'plus', 'tard', 'bientot'
])

/** Articles, prepositions and pronouns: explained in every intent (they glue a target to its verb). */
export const GLUE: ReadonlySet<string> = new Set([
  'the', 'a', 'an', 'some', 'any', 'in', 'on', 'at', 'of', 'for', 'from', 'to', 'with', 'into', 'inside', 'my', 'our',
  'your', 'this', 'that', 'these', 'those', 'it', 'them', 'its', 'there', 'here', 'me', 'us', 'by',
  'le', 'la', 'les', 'l', 'un', 'une', 'des', 'du', 'de', 'dans', 'sur', 'au', 'aux', 'a', 'en', 'pour', 'avec', 'mon',
  'ma', 'mes', 'ton', 'ta', 'tes', 'notre', 'nos', 'cet', 'cette', 'ces', 'y', 'moi', 'lui', 'leur', 'chez',
  // Pronouns and stand-ins for the thing already being talked about: `baisse ça`, `celle-là`, `turn that thing off`.
  'c', 'ca', 'cela', 'ceci', 'celle', 'celui', 'celles', 'ceux', 'ci', 'thing', 'things', 'stuff', 'truc', 'machin',
  'nous', 'vous', 'm', 't', 'device', 'devices', 'appareil', 'appareils', 'gadget', 'gadgets', 'devant', 'derriere', 'pres', 'outside', 'near', 'around', 'elle', 'ils', 'elles', 'they', 'house',
  'home', 'maison'
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
  'ventilateur', 'volets', 'rideaux', 'aspirateur', 'appelle', 'degres', 'actualites', 'recette', 'heure',
  // Other appliances, openings and errands a person may ask a speaker for: an out-of-domain noun or verb beats any
  // cue of this home (`turn up the heat` is not ChangeVolume, `lance la machine à laver` is not MediaPlay).
  'heat', 'ac', 'aircon', 'conditioning', 'conditioner', 'hvac', 'humidity', 'purifier', 'dishwasher', 'washer',
  'washing', 'dryer', 'laundry', 'coffee', 'kettle', 'fridge', 'microwave', 'toaster', 'sprinkler', 'sprinklers',
  'window', 'windows', 'gate', 'doors', 'shades', 'blind', 'snooze', 'dim', 'brighten', 'brightness',
  'message', 'messages', 'sms', 'mail', 'emails', 'send', 'phone', 'telephone', 'keys', 'wallet', 'glasses',
  'restaurant', 'restaurants', 'pizza', 'order', 'buy', 'appointment', 'event', 'events', 'movie', 'movies',
  'channel', 'netflix', 'translate', 'capital', 'score', 'plants', 'robot', 'alexa', 'siri',
  'clim', 'climatisation', 'climatiseur', 'humidite', 'purificateur', 'lave', 'laver', 'linge', 'vaisselle', 'seche',
  'cafe', 'bouilloire', 'frigo', 'frigidaire', 'fenetre', 'fenetres', 'portail', 'portes', 'stores', 'store',
  'persiennes', 'luminosite', 'texto', 'courriel', 'cles', 'clefs', 'portefeuille', 'voiture',
  'lunettes', 'commande', 'commander', 'achete', 'acheter', 'reserve', 'reserver', 'rendez', 'evenement', 'film',
  'films', 'chaine', 'traduis', 'traduire', 'capitale', 'plantes', 'arrose', 'infos', 'game', 'games', 'episode', 'episodes', 'quiz', 'trivia', 'jeu', 'jeux'
])

/**
 * Polite and indirect wrappers around a request, as whole phrases (folded, elisions split): explained in every
 * intent and set aside like filler, so `is it possible to turn off the garage camera`, `would you mind pausing`,
 * `pourriez-vous me dire mon pouls` and `j'aimerais que vous baissiez le son` reach the templates as the request
 * itself. Single words that are always padding belong in {@link FILLERS} instead.
 */
export const WRAPPERS: readonly string[] = [
  'is it possible to', 'is it possible for you to', 'would it be possible to', 'would it be possible for you to',
  'could you possibly', 'would you mind', 'do you mind', 'if you don t mind', 'if you wouldn t mind',
  'would you be so kind as to', 'be so kind as to', 'would you be able to', 'are you able to', 'can you see if',
  'could you see if', 'see if', 'see whether', 'check if', 'check whether', 'can you tell me', 'could you tell me',
  'tell me', 'let me know', 'do you know', 'i d like you to', 'i would like you to', 'i want you to', 'i need you to',
  'i d love it if you could', 'i d love to', 'i would love to', 'i d like to', 'i would like to', 'i was wondering if you could',
  'i wonder if you could', 'i was hoping you could', 'do me a favor and', 'do me a favour and', 'can you help me',
  'help me', 'if you can', 'if you could', 'when you get a chance', 'for me', 'try to', 'make sure to', 'go ahead and',
  'be a dear and', 'why don t you', 'how about you', 'you should', 'i think', 'it s time to', 'time to', 'i wanna',
  'let s', 'mind',
  'est ce que', 'est ce qu', 'est il possible de', 'est ce possible de', 'serait il possible de', 'ce serait possible de',
  'c est possible de', 'ca serait possible de', 'tu pourrais', 'pourrais tu', 'tu peux', 'peux tu', 'vous pouvez',
  'pouvez vous', 'vous pourriez', 'pourriez vous', 'tu veux bien', 'veux tu', 'voulez vous', 'vous voulez bien',
  'j aimerais que tu', 'j aimerais que vous', 'je voudrais que tu', 'je voudrais que vous', 'je veux que tu',
  'je veux que vous', 'j ai besoin que tu', 'j ai besoin que vous', 'j aimerais', 'je voudrais', 'je veux',
  'j ai envie de', 'j ai envie d', 'ca te derange de', 'ca vous derange de', 'cela vous derange de', 'ca te dit de',
  'tu serais gentil de', 'tu serais gentille de', 'sois gentil de', 'merci de', 'n oublie pas de', 'il faudrait',
  'faudrait', 'm aider a', 'aide moi a', 'aidez moi a', 'me dire', 'dis moi', 'dites moi', 'tu sais', 'on peut',
  'on pourrait', 'essaie de', 'essaye de', 'vas y', 'allez y', 'si possible', 'si tu peux', 'si vous pouvez',
  'verifie si', 'regarde si', 'vois si', 'dis moi si'
]

/**
 * Words that end the clause before them: a request often comes after a remark (`c'est trop fort dans la chambre,
 * tu peux baisser ?`, `ugh this song is terrible, skip it`) or before a reason (`mute everything, I'm going to
 * sleep`, `switch off every camera before I leave`). Punctuation ends a clause too.
 */
export const CLAUSE_BREAKS: ReadonlySet<string> = new Set(['but', 'because', 'cause', 'before', 'after', 'while',
  'until', 'since', 'mais', 'parce', 'car', 'avant', 'apres', 'pendant', 'puisque', 'lorsque', 'quand'])

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
