/**
 * The recognizer: utterance → {@link VoiceParse}. Pure, synchronous and allocation-light (no regex per template, no
 * scan of the device list): tokens are tagged once against the home {@link Vocabulary} (a trie), numbers and times,
 * then every template of both grammars is matched over the tagged units, and the best candidate whose every word is
 * explained wins. Nothing explained → `None`: an out-of-domain request is never turned into a guess.
 *
 * How a candidate is judged (docs/voice.md, "How an utterance is understood"):
 * 1. Its template matched; the words it consumed carry the intent.
 * 2. Every other unit is a target (device, room, kind, all), a number or time the intent takes, filler, glue, one
 *    of the intent's extra words, the media to play (MediaPlay), or words just before a kind word, read as the name
 *    of a device the home does not know (`bathroom speaker`, so the answer can say it was not found).
 * 3. Among the valid ones: the one that consumed more words wins; then one that did not capture free media text;
 *    then the grammar's order.
 */
import { DEFAULT_VOLUME_STEP, type DeviceKindName, type IntentName, type Lang, type SlotName, type Slots, type SlotSpan, type VoiceParse } from './intents.ts'
import { FILLERS, GLUE, LANGUAGE_HINTS, OUT_OF_DOMAIN, WAKE_LEADS, WAKE_WORD } from './lexicon.ts'
import { readNumber } from './numbers.ts'
import { compilePattern, matchPattern, type CompiledPattern, type UnitType } from './pattern.ts'
import { fold, tokenize, type Token } from './text.ts'
import { formatTime, readTime } from './times.ts'
import type { Vocabulary } from './vocabulary.ts'
import { EN } from './grammar/en.ts'
import { FR } from './grammar/fr.ts'
import type { Grammar, Template } from './grammar/types.ts'

/** A word or a tagged entity, covering tokens [from, to). */
interface Unit {
  type: UnitType
  norm: string
  /** Canonical value: device name, room id, kind, number, `HH:MM`. */
  value: string | number
  from: number
  to: number
  wake: boolean
}

interface CompiledTemplate { t: Template; p: CompiledPattern; lang: Lang; extras: ReadonlySet<string>; order: number }

/** Which number-like slot an intent fills. */
const NUMBER_SLOT: Readonly<Partial<Record<IntentName, 'level' | 'delta' | 'time'>>> = {
  SetVolume: 'level', ChangeVolume: 'delta', SetAlarm: 'time'
}

const MEDIA_LEADS = new Set(['some', 'a', 'an', 'the', 'me', 'us', 'du', 'de', 'des', 'la', 'le', 'les', 'l', 'd', 'un', 'une', 'peu', 'of', 'little', 'bit', 'moi', 'nous', 'my'])
const MEDIA_GENERIC = new Set(['music', 'musique', 'something', 'anything', 'song', 'songs', 'chanson', 'chansons', 'quelque', 'chose', 'tunes', 'tune', 'playlist', 'zik', 'sound', 'sounds', 'track', 'tracks'])
/** Prepositions that introduce a target after the media: `play jazz in the kitchen`, `joue du jazz sur l'enceinte`. */
const TARGET_PREPS = new Set(['in', 'on', 'at', 'to', 'from', 'through', 'dans', 'sur', 'au', 'a', 'en', 'chez', 'avec', 'with', 'via'])

export interface RecognizerOptions {
  /** Only this language's grammar, and the answer language. Default: detect. */
  lang?: Lang
}

export class Recognizer {
  private readonly templates: CompiledTemplate[] = []
  /** Templates by a word every match of theirs consumes; `unindexed` are tried on every utterance. */
  private readonly byWord = new Map<string, CompiledTemplate[]>()
  private readonly unindexed: CompiledTemplate[] = []
  private readonly hints: Record<Lang, Set<string>> = { en: new Set(), fr: new Set() }

  constructor (readonly vocabulary: Vocabulary, grammars: readonly Grammar[] = [EN, FR]) {
    let order = 0
    for (const g of grammars) {
      const extras = new Map<IntentName, Set<string>>()
      for (const [intent, list] of Object.entries(g.extras)) extras.set(intent as IntentName, new Set(list))
      for (const t of g.templates) {
        const p = compilePattern(t.pattern)
        const ct = { t, p, lang: g.lang, extras: extras.get(t.intent) ?? new Set<string>(), order: order++ }
        this.templates.push(ct)
        if (p.firstWords === undefined) this.unindexed.push(ct)
        else for (const w of p.firstWords) this.byWord.set(w, [...(this.byWord.get(w) ?? []), ct])
        for (const w of p.words) this.hints[g.lang].add(w)
      }
    }
    for (const l of ['en', 'fr'] as const) for (const w of LANGUAGE_HINTS[l]) this.hints[l].add(w)
    // A word both languages use says nothing about which one this is.
    for (const w of [...this.hints.en]) if (this.hints.fr.has(w)) { this.hints.en.delete(w); this.hints.fr.delete(w) }
  }

  /** Understand one utterance. */
  parse (text: string, options: RecognizerOptions = {}): VoiceParse {
    const tokens = tokenize(text)
    const norms = tokens.map((t) => t.norm)
    const units = this.tag(norms)
    const detected = options.lang ?? this.detect(text, norms)
    const none = (explanation: string, lang: Lang = detected ?? 'en', confidence = 1): VoiceParse =>
      ({ text, lang, intent: 'None', confidence, slots: {}, spans: [], explanation })

    // The span that anchors (^ $) refer to: without wake words and the politeness around the request.
    let first = 0
    let last = units.length - 1
    while (first <= last && (units[first]?.wake === true || isPadding(units[first]))) first++
    while (last >= first && (units[last]?.wake === true || isPadding(units[last]))) last--
    if (first > last) return none('nothing but a wake word or filler')

    for (const u of units) {
      if (u.type === 'word' && OUT_OF_DOMAIN.has(u.norm)) return none(`out of domain: "${u.norm}" is not something this home can do`)
    }

    let best: Candidate | undefined
    let runnerUp: Candidate | undefined
    const tried = new Set<CompiledTemplate>()
    for (const u of units) {
      if (u.type !== 'word') continue
      const list = this.byWord.get(u.norm)
      if (list !== undefined) for (const ct of list) tried.add(ct)
    }
    for (const ct of this.unindexed) tried.add(ct)
    for (const ct of tried) {
      if (options.lang !== undefined && ct.lang !== options.lang) continue
      const consumed = matchPattern(ct.p, units, first, last)
      if (consumed === undefined) continue
      const c = this.evaluate(ct, units, consumed, tokens, text)
      if (c === undefined) continue
      if (best === undefined || better(c, best)) {
        if (best !== undefined && best.ct.t.intent !== c.ct.t.intent) runnerUp = best
        best = c
      } else if (best.ct.t.intent !== c.ct.t.intent && (runnerUp === undefined || better(c, runnerUp))) {
        runnerUp = c
      }
    }
    if (best === undefined) return none('no template explains every word', detected ?? 'en', 0.9)

    let confidence = best.explained / (best.explained + best.extra)
    // Another intent explaining the utterance with as many template words is a real doubt: say so in the score.
    if (runnerUp !== undefined && runnerUp.consumed === best.consumed) confidence *= 0.7
    return {
      text,
      lang: detected ?? best.ct.lang,
      intent: best.ct.t.intent,
      confidence: Math.round((0.5 + 0.5 * confidence) * 100) / 100,
      slots: best.slots,
      spans: best.spans,
      explanation: `${best.ct.lang} ${best.ct.t.intent}: ${best.ct.t.pattern}`
    }
  }

  /** Tag tokens as units: the longest of a time, a number, or a phrase of the home at each position. */
  private tag (norms: readonly string[]): Unit[] {
    const units: Unit[] = []
    let i = 0
    // Wake word: `[hey|dis|hé…] cortana` anywhere (people also say it last: "turn it off, Cortana").
    while (i < norms.length) {
      const w = norms[i] as string
      if (w === WAKE_WORD || (WAKE_LEADS.has(w) && norms[i + 1] === WAKE_WORD)) {
        const len = w === WAKE_WORD ? 1 : 2
        units.push({ type: 'word', norm: WAKE_WORD, value: WAKE_WORD, from: i, to: i + len, wake: true })
        i += len
        continue
      }
      const time = readTime(norms, i)
      const num = time === undefined ? readNumber(norms, i) : undefined
      const phrase = this.vocabulary.longest(norms, i)
      const tLen = time?.length ?? num?.length ?? 0
      if (phrase !== undefined && (phrase.length > tLen || (phrase.length === tLen && phrase.entry.type === 'device'))) {
        units.push({ type: phrase.entry.type, norm: phrase.entry.value, value: phrase.entry.value, from: i, to: i + phrase.length, wake: false })
        i += phrase.length
      } else if (time !== undefined) {
        units.push({ type: 'time', norm: formatTime(time), value: formatTime(time), from: i, to: i + time.length, wake: false })
        i += time.length
      } else if (num !== undefined) {
        units.push({ type: 'num', norm: String(num.value), value: num.value, from: i, to: i + num.length, wake: false })
        i += num.length
      } else {
        units.push({ type: 'word', norm: w, value: w, from: i, to: i + 1, wake: false })
        i++
      }
    }
    return units
  }

  /** en or fr from the words only one of them uses (and accents); undefined when they tie. */
  private detect (text: string, norms: readonly string[]): Lang | undefined {
    let en = 0
    let fr = 0
    for (const w of norms) {
      if (this.hints.en.has(w)) en++
      if (this.hints.fr.has(w)) fr++
    }
    if (/[àâçéèêëîïôûùüÿœ]/i.test(text)) fr += 2
    return en > fr ? 'en' : fr > en ? 'fr' : undefined
  }

  private evaluate (ct: CompiledTemplate, units: readonly Unit[], consumed: readonly number[], tokens: readonly Token[], text: string): Candidate | undefined {
    const intent = ct.t.intent
    const explained = new Uint8Array(units.length)
    for (const i of consumed) explained[i] = 1
    const slots: Slots = { ...ct.t.set }
    const spans: SlotSpan[] = []
    const span = (slot: SlotName, fromUnit: number, toUnit: number): void => {
      const a = tokens[(units[fromUnit] as Unit).from] as Token
      const b = tokens[(units[toUnit] as Unit).to - 1] as Token
      spans.push({ slot, text: text.slice(a.start, b.end), offset: a.start, length: b.end - a.start })
    }
    const templateSpan = (): [number, number] => [consumed[0] ?? 0, consumed[consumed.length - 1] ?? 0]
    for (const key of Object.keys(ct.t.set ?? {}) as SlotName[]) span(key, ...templateSpan())

    const devices: string[] = []
    const rooms: string[] = []
    const kinds: DeviceKindName[] = []
    const numbers: number[] = []
    const numberUnits: number[] = []
    let time: string | undefined
    let extra = 0

    // Media first: the words right after the verb, up to a target.
    let mediaUsed = false
    if (intent === 'MediaPlay' && consumed.length > 0) {
      const m = this.media(units, (consumed[consumed.length - 1] as number) + 1)
      if (m !== undefined) {
        for (let k = m.from; k < m.to; k++) explained[k] = 1
        if (!m.generic) { slots.media = text.slice((tokens[(units[m.core] as Unit).from] as Token).start, (tokens[(units[m.to - 1] as Unit).to - 1] as Token).end); span('media', m.core, m.to - 1); mediaUsed = true }
      }
    }

    for (let k = 0; k < units.length; k++) {
      const u = units[k] as Unit
      if (u.wake) { explained[k] = 1; continue }
      switch (u.type) {
        case 'device': devices.push(u.value as string); span('device', k, k); explained[k] = 1; break
        case 'room': rooms.push(u.value as string); span('room', k, k); explained[k] = 1; break
        case 'kind': kinds.push(u.value as DeviceKindName); explained[k] = 1; break
        case 'all': slots.all = true; span('all', k, k); explained[k] = 1; break
        case 'num':
          if (NUMBER_SLOT[intent] !== undefined) { numbers.push(u.value as number); numberUnits.push(k); explained[k] = 1 }
          break
        case 'time':
          if (intent === 'SetAlarm') { time = u.value as string; span('time', k, k); explained[k] = 1 }
          break
        case 'word':
          if (explained[k] === 1) break
          if (FILLERS.has(u.norm) || GLUE.has(u.norm)) explained[k] = 1
          else if (ct.extras.has(u.norm)) { explained[k] = 1; extra++ }
          break
      }
    }

    // Unknown words right before a kind word name a device the home does not know: `the bathroom speaker`.
    for (let k = 0; k < units.length; k++) {
      if (units[k]?.type !== 'kind' || k === 0 || explained[k - 1] === 1) continue
      let s = k
      while (s > 0 && explained[s - 1] === 0 && units[s - 1]?.type === 'word') s--
      const name = units.slice(s, k + 1).map((u) => u.norm).join(' ')
      for (let j = s; j <= k; j++) explained[j] = 1
      const at = kinds.indexOf(units[k]?.value as DeviceKindName)
      if (at >= 0) kinds.splice(at, 1)
      devices.push(name)
      span('device', s, k)
    }
    // The kind spans, now that unknown names took theirs.
    for (let k = 0; k < units.length; k++) {
      const u = units[k] as Unit
      if (u.type === 'kind' && kinds.includes(u.value as DeviceKindName) && !spans.some((s) => s.slot === 'device' && s.offset <= (tokens[u.from] as Token).start && s.offset + s.length >= (tokens[u.to - 1] as Token).end)) span('kind', k, k)
    }

    for (let k = 0; k < units.length; k++) if (explained[k] === 0) return undefined

    setList(slots, 'device', devices)
    setList(slots, 'room', rooms)
    setList(slots, 'kind', kinds)
    if (slots.room === undefined && ct.t.impliedRoom !== undefined && this.vocabulary.hasRoom(ct.t.impliedRoom)) {
      slots.room = ct.t.impliedRoom
      span('room', ...templateSpan())
    }

    switch (NUMBER_SLOT[intent]) {
      case 'level':
        if (numbers.length > 1) return undefined
        if (numbers[0] !== undefined) { slots.level = numbers[0]; span('level', numberUnits[0] as number, numberUnits[0] as number) }
        break
      case 'delta': {
        if (numbers.length > 1) return undefined
        const sign = (slots.delta ?? DEFAULT_VOLUME_STEP) < 0 ? -1 : 1
        if (numbers[0] !== undefined) {
          slots.delta = sign * numbers[0]
          // The amount said replaces the template's default step as the slot's evidence.
          for (let k = spans.length - 1; k >= 0; k--) if (spans[k]?.slot === 'delta') spans.splice(k, 1)
          span('delta', numberUnits[0] as number, numberUnits[0] as number)
        }
        slots.delta ??= sign * DEFAULT_VOLUME_STEP
        break
      }
      case 'time': {
        // Bare numbers only count as a time for an alarm: `at seven` → 07:00, `seven thirty` → 07:30.
        if (time === undefined && numbers.length > 0) {
          const [h, m] = numbers
          const adjacent = numberUnits.length === 2 && numberUnits[1] === (numberUnits[0] as number) + 1
          if (numbers.length > 2 || h === undefined || h > 23 || (m !== undefined && (!adjacent || m > 59))) return undefined
          time = formatTime({ hh: h, mm: m ?? 0 })
          span('time', numberUnits[0] as number, numberUnits[numberUnits.length - 1] as number)
        }
        if (time !== undefined) slots.time = time
        break
      }
      default:
        break
    }
    return { ct, slots, spans, consumed: consumed.length, mediaUsed, explained: units.length - extra, extra }
  }

  /** The media span after the verb: `[some] jazz` in `play some jazz in the kitchen`. */
  private media (units: readonly Unit[], from: number): { from: number; core: number; to: number; generic: boolean } | undefined {
    let to = from
    while (to < units.length) {
      const u = units[to] as Unit
      if (u.type === 'device' || u.type === 'room' || u.type === 'kind' || u.type === 'all' || u.wake) break
      if (u.type === 'word' && TARGET_PREPS.has(u.norm) && to > from && introducesTarget(units, to)) break
      to++
    }
    // Politeness at the end is not part of the title.
    while (to > from && units[to - 1]?.type === 'word' && (FILLERS.has(units[to - 1]?.norm ?? '') || GLUE.has(units[to - 1]?.norm ?? ''))) to--
    let core = from
    while (core < to && units[core]?.type === 'word' && MEDIA_LEADS.has(units[core]?.norm ?? '')) core++
    if (core >= to) return undefined
    let generic = true
    for (let k = core; k < to; k++) if (!MEDIA_GENERIC.has(units[k]?.norm ?? '')) generic = false
    return { from, core, to, generic }
  }
}

interface Candidate {
  ct: CompiledTemplate
  slots: Slots
  spans: SlotSpan[]
  /** Units the template itself consumed. */
  consumed: number
  mediaUsed: boolean
  /** Units explained by the template, targets, numbers, filler or glue; and by the intent's extra words. */
  explained: number
  extra: number
}

function better (a: Candidate, b: Candidate): boolean {
  if (a.consumed !== b.consumed) return a.consumed > b.consumed
  if (a.mediaUsed !== b.mediaUsed) return !a.mediaUsed
  return a.ct.order < b.ct.order
}

function isPadding (u: Unit | undefined): boolean {
  return u?.type === 'word' && FILLERS.has(u.norm)
}

/** `in the kitchen`, `sur l'enceinte du salon`: a preposition followed (through glue) by a target. */
function introducesTarget (units: readonly Unit[], at: number): boolean {
  for (let k = at + 1; k < units.length; k++) {
    const u = units[k] as Unit
    if (u.type === 'device' || u.type === 'room' || u.type === 'kind' || u.type === 'all') return true
    if (u.type !== 'word' || !GLUE.has(u.norm)) return false
  }
  return false
}

function setList<K extends 'device' | 'room' | 'kind'> (slots: Slots, key: K, values: Array<NonNullable<Slots[K]> extends infer V ? V extends Array<infer E> ? E : V : never>): void {
  const unique = [...new Set(values)]
  if (unique.length === 1) (slots as Record<string, unknown>)[key] = unique[0]
  else if (unique.length > 1) (slots as Record<string, unknown>)[key] = unique
}

/** Fold a slot value for comparisons (eval, tests): `Nina Simone` = `nina simone`. */
export function foldValue (v: string): string {
  return tokenize(v).map((t) => fold(t.norm)).join(' ')
}
