/**
 * Rooms: ids and the names people use for them, in English and French. Devices place themselves in a room by id
 * (the `room` of a device's `info`); the voice bridge and the command line turn whatever a person typed or said
 * ("Salon", "la cuisine", "l'entree", "Living Room") into that id with {@link resolveRoom}.
 */

/** The languages room names are known in. */
export const ROOM_LANGUAGES = ['en', 'fr'] as const
export type RoomLanguage = typeof ROOM_LANGUAGES[number]

export interface Room {
  /** The room id: its canonical English name, lower case (`living room`). Devices' `room` field holds it. */
  id: string
  /** Names by language, the usual one first (`fr[0]` is what a French answer calls the room). */
  names: Readonly<Record<RoomLanguage, readonly string[]>>
}

/** The rooms of the demo home and of generated homes. */
export const ROOMS: readonly Room[] = Object.freeze([
  { id: 'living room', names: { en: ['living room', 'lounge', 'sitting room'], fr: ['salon', 'séjour', 'salle de séjour'] } },
  { id: 'kitchen', names: { en: ['kitchen'], fr: ['cuisine'] } },
  { id: 'bedroom', names: { en: ['bedroom'], fr: ['chambre', 'chambre à coucher'] } },
  { id: 'office', names: { en: ['office', 'study'], fr: ['bureau'] } },
  { id: 'garage', names: { en: ['garage'], fr: ['garage'] } },
  { id: 'garden', names: { en: ['garden', 'yard', 'backyard'], fr: ['jardin'] } },
  { id: 'front door', names: { en: ['front door', 'entrance', 'front porch', 'porch'], fr: ["porte d'entrée", 'entrée'] } }
].map((r) => Object.freeze({ id: r.id, names: Object.freeze({ en: Object.freeze(r.names.en), fr: Object.freeze(r.names.fr) }) })))

/**
 * A room's comparison key: case, accents, spacing and punctuation ignored, letters of every script kept
 * (`Porte d'Entrée` → `porte-d-entree`, `厨房` → `厨房`). Two different rooms never share a key unless their names
 * differ only in those ways.
 */
export function roomKey (text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-|-$/g, '')
}

/**
 * Leading words that say nothing about which room is meant, as keys: articles and possessives in both languages,
 * with the French elided forms (`l'`, `d'`), which {@link roomKey} turns into `l-`, `d-`.
 */
const LEADING_WORDS = /^(?:the|my|our|le|la|les|l|du|des|de|d|mon|ma|mes|notre|nos)-/

/** Every key that names a room, to its id, for a set of rooms; built once per set. */
const indexes = new WeakMap<readonly Room[], Map<string, string>>()

function indexOf (rooms: readonly Room[]): Map<string, string> {
  let index = indexes.get(rooms)
  if (index === undefined) {
    index = new Map()
    for (const r of rooms) {
      for (const name of [r.id, ...r.names.en, ...r.names.fr]) {
        const key = roomKey(name)
        if (!index.has(key)) index.set(key, r.id)
      }
    }
    indexes.set(rooms, index)
  }
  return index
}

/**
 * The id of the room a text names, by id or any name in any language, ignoring case, accents, punctuation and
 * leading articles (`Salon`, `la cuisine`, `l'entrée`, `l'entree`, `the Living Room`); undefined when none.
 *
 * @example
 * resolveRoom("l'entrée") // 'front door'
 * resolveRoom('CUISINE') // 'kitchen'
 */
export function resolveRoom (text: string, rooms: readonly Room[] = ROOMS): string | undefined {
  const index = indexOf(rooms)
  let key = roomKey(text)
  for (;;) {
    const id = index.get(key)
    if (id !== undefined) return id
    const stripped = key.replace(LEADING_WORDS, '')
    if (stripped === key || stripped === '') return undefined
    key = stripped
  }
}

/** The room a text names (see {@link resolveRoom}), or undefined. */
export function findRoom (text: string, rooms: readonly Room[] = ROOMS): Room | undefined {
  const id = resolveRoom(text, rooms)
  return id === undefined ? undefined : rooms.find((r) => r.id === id)
}

/** What to call a room in a language: its usual name there, or the id for a room not in the table. */
export function roomName (id: string, lang: RoomLanguage, rooms: readonly Room[] = ROOMS): string {
  return rooms.find((r) => r.id === id)?.names[lang][0] ?? id
}
