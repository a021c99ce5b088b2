/**
 * What Cortana says, in the utterance's language: spoken-style sentences built from the structured results, so the
 * text and the per-device outcome can never disagree. French names a demo-style device by kind and room
 * ("l'enceinte de la cuisine"); any other name is quoted as it is.
 */
import { roomName } from '../../core/rooms.ts'
import type { KnownDevice } from '../home.ts'
import type { VoiceErrorCode } from './errors.ts'
import type { IntentName, Lang, Slots } from './intents.ts'

/** One device's part of an answer. */
export interface DeviceResult {
  deviceId: string
  name: string
  kind: string
  room: string
  /** The command sent; absent when nothing was sent (offline, already at max, answered from `info`). */
  command?: string
  ok: boolean
  error?: VoiceErrorCode
  /** The device's own reply code, when it answered with an error. */
  replyCode?: string
  message?: string
  /** The reply's result, or the state the answer was read from. */
  result?: Record<string, unknown>
}

type Phrase = Pick<KnownDevice, 'name' | 'kind' | 'room'>

const KIND_FR: Readonly<Record<string, { noun: string; feminine: boolean }>> = {
  speaker: { noun: 'enceinte', feminine: true },
  camera: { noun: 'caméra', feminine: true },
  band: { noun: 'bracelet', feminine: false }
}
const FEMININE_ROOMS = new Set(['cuisine', 'chambre', 'entrée', "porte d'entrée", 'salle de séjour', 'chambre à coucher'])
const VOWEL = /^[aeiouyéèêàâîôûh]/i

/** French: `le salon`, `la cuisine`, `l'entrée`, with the id as the fallback name. */
function frDefinite (noun: string, feminine: boolean): string {
  if (VOWEL.test(noun)) return `l'${noun}`
  return `${feminine ? 'la' : 'le'} ${noun}`
}
/** `de` + a definite phrase: `du salon`, `de la cuisine`, `de l'entrée`. */
export function frOf (definite: string): string {
  return definite.startsWith('le ') ? `du ${definite.slice(3)}` : definite.startsWith('les ') ? `des ${definite.slice(4)}` : `de ${definite}`
}
/** The room in a French sentence, definite: `la cuisine`. */
export function frRoom (id: string): string {
  const name = roomName(id, 'fr')
  return frDefinite(name, FEMININE_ROOMS.has(name))
}

/** A device as a sentence names it: `the kitchen speaker`, `your band`, `l'enceinte de la cuisine`, `ton bracelet`. */
export function deviceName (d: Phrase, lang: Lang): string {
  const lower = d.name.toLowerCase()
  if (lang === 'en') {
    if (lower.startsWith('my ')) return `your ${d.name.slice(3)}`
    return /'s\b|^the /i.test(d.name) ? d.name : `the ${d.name}`
  }
  const k = KIND_FR[d.kind]
  if (k !== undefined && lower === 'my band') return 'ton bracelet'
  if (k !== undefined && lower === `${d.room} ${d.kind}`) return `${frDefinite(k.noun, k.feminine)} ${frOf(frRoom(d.room))}`
  return `« ${d.name} »`
}

function list (items: readonly string[], lang: Lang): string {
  if (items.length <= 1) return items[0] ?? ''
  return `${items.slice(0, -1).join(', ')} ${lang === 'en' ? 'and' : 'et'} ${items[items.length - 1] as string}`
}

/** A reply field as words: a string or number as it is, anything else the fallback. */
const text = (v: unknown, fallback: string): string => typeof v === 'string' || typeof v === 'number' ? String(v) : fallback

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

function frTime (hhmm: string): string {
  const [h, m] = hhmm.split(':')
  return `${Number(h)} h${m === '00' ? '' : ` ${m as string}`}`
}

/** The sentence for what went well. */
function success (intent: IntentName, ok: readonly DeviceResult[], slots: Slots, lang: Lang): string {
  const names = list(ok.map((r) => deviceName(r, lang)), lang)
  const first = ok[0]?.result ?? {}
  const en = lang === 'en'
  switch (intent) {
    case 'TurnOn': return en ? `I turned on ${names}` : `J'ai allumé ${names}`
    case 'TurnOff': return en ? `I turned off ${names}` : `J'ai éteint ${names}`
    case 'SetVolume': return en ? `I set ${names} to ${slots.level ?? ''}` : `J'ai mis ${names} à ${slots.level ?? ''}`
    case 'ChangeVolume':
      if (ok.length === 1 && typeof first.volume === 'number') return en ? `${cap(names)} is now at ${first.volume}` : `${cap(names)} est maintenant à ${first.volume}`
      return (slots.delta ?? 0) >= 0 ? (en ? `I turned up ${names}` : `J'ai monté le son ${frOf(names)}`) : (en ? `I turned down ${names}` : `J'ai baissé le son ${frOf(names)}`)
    case 'Mute': return en ? `I muted ${names}` : `J'ai coupé le son ${frOf(names)}`
    case 'Unmute': return en ? `I unmuted ${names}` : `J'ai remis le son ${frOf(names)}`
    case 'MediaPlay': return en ? `Playing ${text(first.track, 'music')} on ${names}` : `Je joue ${text(first.track, 'de la musique')} sur ${names}`
    case 'MediaPause': return en ? `I paused ${names}` : `J'ai mis ${names} en pause`
    case 'MediaResume': return en ? `Resuming on ${names}` : `Je reprends la lecture sur ${names}`
    case 'MediaNext': return en ? `Next up: ${text(first.track, 'the next track')}` : `Morceau suivant : ${text(first.track, '')}`
    case 'ShowCamera': return en ? `Here is ${names}` : `Voici ${names}`
    case 'TakeSnapshot': return en ? `I took a photo with ${names}` : `J'ai pris une photo avec ${names}`
    case 'SetNightMode': return en ? `Night mode is ${slots.on === false ? 'off' : 'on'} for ${names}` : `Le mode nuit est ${slots.on === false ? 'désactivé' : 'activé'} pour ${names}`
    case 'GetHeartRate': return en ? `Your heart rate is ${String(first.heartRate)} beats per minute` : `Ton rythme cardiaque est de ${String(first.heartRate)} battements par minute`
    case 'GetSteps': return en ? `You've taken ${String(first.steps)} steps today` : `Tu as fait ${String(first.steps)} pas aujourd'hui`
    case 'GetBattery': return ok.map((r) => en ? `The battery of ${deviceName(r, lang)} is at ${String(r.result?.battery)}%` : `La batterie ${frOf(deviceName(r, lang))} est à ${String(r.result?.battery)} %`).join('. ')
    case 'FindDevice': return en ? `I'm making ${names} vibrate` : `Je fais vibrer ${names}`
    case 'SetAlarm': return en ? `Alarm set for ${slots.time ?? ''} on ${names}` : `Réveil réglé à ${frTime(slots.time ?? '00:00')} sur ${names}`
    case 'CheckForUpdates': return ok.map((r) => en ? `${cap(deviceName(r, lang))} runs firmware ${text(r.result?.firmware, 'unknown')}` : `${cap(deviceName(r, lang))} est en version ${text(r.result?.firmware, 'inconnue')}`).join('. ')
    case 'None': return ''
  }
}

/** The clause for one device that failed. */
function failure (r: DeviceResult, slots: Slots, lang: Lang): string {
  const d = deviceName(r, lang)
  const en = lang === 'en'
  switch (r.error) {
    case 'offline': return en ? `${d} is offline` : `${d} est hors ligne`
    case 'deviceOff': return en ? `${d} is switched off` : `${d} est hors tension`
    case 'busy': return en ? `${d} is busy` : `${d} ne peut pas répondre pour l'instant`
    case 'updating': return en ? `${d} is installing an update` : `${d} installe une mise à jour`
    case 'outOfRange': return slots.level !== undefined
      ? (en ? `the volume goes from 0 to 100, so ${d} can't go to ${slots.level}` : `le volume va de 0 à 100 : impossible de mettre ${d} à ${slots.level}`)
      : (en ? `that value is out of range for ${d}` : `cette valeur est hors limites pour ${d}`)
    case 'alreadyAtMax': return en ? `${d} is already at maximum volume` : `${d} est déjà au volume maximum`
    case 'alreadyAtMin': return en ? `${d} is already at minimum volume` : `${d} est déjà au volume minimum`
    case 'notSupported': return en ? `${d} can't do that` : `${d} ne sait pas faire ça`
    case 'invalidValue': return en ? `${d} could not do it (${r.message ?? 'invalid value'})` : `${d} n'a pas pu le faire`
    case 'timeout': return en ? `${d} didn't answer` : `${d} n'a pas répondu`
    default: return en ? `${d} ran into a problem` : `${d} a rencontré un problème`
  }
}

/** The spoken answer for per-device results: success, partial success, or every device failing. */
export function resultsSpeech (intent: IntentName, results: readonly DeviceResult[], slots: Slots, lang: Lang): string {
  const ok = results.filter((r) => r.ok)
  const bad = results.filter((r) => !r.ok)
  const clauses = bad.map((r) => failure(r, slots, lang))
  if (bad.length === 0) return `${success(intent, ok, slots, lang)}.`
  if (ok.length === 0) return `${lang === 'en' ? 'Sorry, ' : 'Désolée, '}${list(clauses, lang)}.`
  return `${success(intent, ok, slots, lang)}, ${lang === 'en' ? 'but' : 'mais'} ${list(clauses, lang)}.`
}

export function notUnderstoodSpeech (lang: Lang): string {
  return lang === 'en' ? "Sorry, I didn't understand that." : "Désolée, je n'ai pas compris."
}

/** Nothing matches: a name the home does not have, or a room/kind with nothing able to do it. */
export function notFoundSpeech (lang: Lang, what: { name?: string; room?: string; kind?: string }): string {
  const en = lang === 'en'
  if (what.name !== undefined) return en ? `I can't find a device called ${what.name}.` : `Je ne trouve pas d'appareil appelé « ${what.name} ».`
  const kindEn = what.kind ?? 'device'
  const k = KIND_FR[what.kind ?? '']
  const kindFr = k === undefined ? 'appareil' : k.noun
  if (what.room !== undefined) {
    return en ? `There's no ${kindEn} in the ${what.room} that can do that.` : `Il n'y a pas ${VOWEL.test(kindFr) ? "d'" : 'de '}${kindFr} dans ${frRoom(what.room)} qui sache faire ça.`
  }
  return en ? `I can't find a ${kindEn} that can do that.` : `Je ne trouve pas ${VOWEL.test(kindFr) ? "d'" : 'de '}${kindFr} qui sache faire ça.`
}

/** The re-prompt: which one? */
export function ambiguousSpeech (lang: Lang, candidates: readonly Phrase[]): string {
  const names = candidates.map((c) => deviceName(c, lang))
  const joined = names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} ${lang === 'en' ? 'or' : 'ou'} ${names[names.length - 1] as string}`
  return lang === 'en' ? `Which one: ${joined}?` : `Lequel : ${joined} ?`
}

/** A request that needs a value the utterance did not give (`set an alarm` without a time). */
export function missingSlotSpeech (lang: Lang, slot: 'level' | 'time'): string {
  if (slot === 'time') return lang === 'en' ? 'For what time?' : 'Pour quelle heure ?'
  return lang === 'en' ? 'To what level?' : 'À quel niveau ?'
}
