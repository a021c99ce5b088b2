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
 *
 * When no template explains every word, a second, tolerant pass accepts a match whose leftover words are a remark
 * or a lead-in the grammar did not anticipate (`ugh this song is terrible, skip it`), never the thing the request
 * acts on (`turn up the heat`, `open the garage door`): see {@link Recognizer.tolerable}. Its confidence drops
 * with the share of words left unexplained.
 */
import { DEFAULT_VOLUME_STEP, type DeviceKindName, type IntentName, type Lang, type SlotName, type Slots, type SlotSpan, type VoiceParse } from './intents.ts'
import { CLAUSE_BREAKS, FILLERS, GLUE, LANGUAGE_HINTS, OUT_OF_DOMAIN, WAKE_LEADS, WAKE_WORD, WRAPPERS } from './lexicon.ts'
import { readNumber } from './numbers.ts'
import { compilePattern, matchPattern, type CompiledPattern, type UnitType } from './pattern.ts'
import { baseForms, fold, tokenize, words as phraseWords, type Token } from './text.ts'
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
  /** The wake word and its lead. */
  wake: boolean
  /** A polite or indirect wrapper (`would you mind`, `pourriez-vous me dire`) or a clause break: always explained. */
  pad: boolean
  /** Base form of an inflected verb the grammar knows (`turning` → `turn`), matched like the word itself. */
  alt?: string | undefined
  /** Index of the clause (punctuation and words like `but`, `mais`, `before` start a new one). */
  clause: number
}

interface CompiledTemplate { t: Template; p: CompiledPattern; lang: Lang; extras: ReadonlySet<string>; order: number }

/** Which number-like slot an intent fills. */
const NUMBER_SLOT: Readonly<Partial<Record<IntentName, 'level' | 'delta' | 'time'>>> = {
  SetVolume: 'level', ChangeVolume: 'delta', SetAlarm: 'time'
}

const MEDIA_LEADS = new Set(['some', 'a', 'an', 'the', 'me', 'us', 'du', 'de', 'des', 'la', 'le', 'les', 'l', 'd', 'un', 'une', 'peu', 'of', 'little', 'bit', 'moi', 'nous', 'my'])
const MEDIA_GENERIC = new Set(['music', 'musique', 'something', 'anything', 'song', 'songs', 'chanson', 'chansons', 'quelque', 'chose', 'tunes', 'tune', 'playlist', 'zik', 'sound', 'sounds', 'track', 'tracks'])
/**
 * Intents asked with a noun (`battery`, `pulse`, `steps`, `updates`): a question around the noun may use any words
 * (`how's my battery doing`). The others are asked with a verb, and a word after the verb that nothing explains is
 * what the verb acts on, so it is not this home's (`turn up the heat`).
 */
const NOUN_CUED: ReadonlySet<IntentName> = new Set(['GetHeartRate', 'GetSteps', 'GetBattery', 'CheckForUpdates'])
/** A question word left unexplained in the clause of a verb-asked intent makes it a question, not a request (`what's playing`). */
const QUESTION_WORDS: ReadonlySet<string> = new Set(['what', 'who', 'why', 'how', 'when', 'which', 'whose', 'quoi', 'pourquoi', 'comment', 'quand', 'quel', 'quelle', 'quels', 'quelles', 'qui'])
/** Words after a number that make it a duration, not a slot: `pause for two minutes`, `coupe le son deux minutes`. */
const DURATIONS: ReadonlySet<string> = new Set(['sec', 'second', 'seconds', 'minute', 'minutes', 'moment', 'seconde', 'secondes'])
/** The tolerant pass refuses a candidate that leaves more than this share of the utterance unexplained. */
const MAX_UNEXPLAINED_SHARE = 0.5

const POLITE_END = new Set(['please', 'pls', 'plz', 'thanks', 'thank', 'you', 'now', 'again', 'then', 'ok', 'okay', 'cortana',
  'merci', 'stp', 'svp', 's', 'il', 'te', 'vous', 'plait', 'maintenant', 'encore', 'alors', 'donc', 'voila'])
const DEFINITE = new Set(['the', 'le', 'la', 'les', 'l'])
/** Words that introduce a quantity of something, which to a speaker is music: `du jazz`, `un peu de Brel`, `some Miles Davis`, `a little Chet Baker`. */
const PARTITIVES = new Set(['du', 'de', 'd', 'some', 'peu', 'bit', 'little'])
/** Determiners: before a common noun (`la table`, `ton manteau`, `a jacket`, `your shoes`), unless a capital makes it a title (`La Vie en rose`). */
const DETERMINERS = new Set(['the', 'a', 'an', 'my', 'your', 'his', 'her', 'our', 'their', 'this', 'that', 'these', 'those',
  'le', 'la', 'les', 'l', 'un', 'une', 'des', 'mon', 'ma', 'mes', 'ton', 'ta', 'tes', 'son', 'sa', 'ses', 'notre', 'nos',
  'votre', 'vos', 'leur', 'leurs', 'ce', 'cet', 'cette', 'ces'])
/** Prepositions that introduce a target after the media: `play jazz in the kitchen`, `joue du jazz sur l'enceinte`. */
const TARGET_PREPS = new Set(['in', 'on', 'at', 'to', 'from', 'through', 'dans', 'sur', 'au', 'a', 'en', 'chez', 'avec', 'with', 'via'])

export interface RecognizerOptions {
  /** Only this language's grammar, and the answer language. Default: detect. */
  lang?: Lang
}

export class Recognizer {
  private readonly templates: CompiledTemplate[] = []
  /** Templates by a word every match of theirs consumes (the most selective such set); `unindexed` are tried on every utterance. */
  private readonly byWord = new Map<string, CompiledTemplate[]>()
  private readonly unindexed: CompiledTemplate[] = []
  private readonly hints: Record<Lang, Set<string>> = { en: new Set(), fr: new Set() }
  /** Every literal word of the templates (what an inflected form may be reduced to). */
  private readonly templateWords = new Set<string>()
  /** Words with a meaning of their own beyond a template: never reduced to a base form. */
  private readonly listed = new Set<string>([...FILLERS, ...GLUE, ...OUT_OF_DOMAIN, ...CLAUSE_BREAKS])
  /** Base form per word seen ('' for none), so inflections are worked out once. */
  private readonly bases = new Map<string, string>()
  /** Wrapper phrases by first word, longest first. */
  private readonly wrappers = new Map<string, string[][]>()

  constructor (readonly vocabulary: Vocabulary, grammars: readonly Grammar[] = [EN, FR]) {
    let order = 0
    for (const g of grammars) {
      const extras = new Map<IntentName, Set<string>>()
      for (const [intent, list] of Object.entries(g.extras)) extras.set(intent as IntentName, new Set(list))
      for (const t of g.templates) {
        const p = compilePattern(t.pattern)
        const ct = { t, p, lang: g.lang, extras: extras.get(t.intent) ?? new Set<string>(), order: order++ }
        this.templates.push(ct)
        const key = selective(p.requiredWords)
        if (key === undefined) this.unindexed.push(ct)
        else for (const w of key) this.byWord.set(w, [...(this.byWord.get(w) ?? []), ct])
        for (const w of p.words) { this.hints[g.lang].add(w); this.templateWords.add(w) }
      }
    }
    for (const phrase of WRAPPERS) {
      const ws = phraseWords(phrase)
      const first = ws[0]
      if (first === undefined) continue
      this.wrappers.set(first, [...(this.wrappers.get(first) ?? []), ws].sort((a, b) => b.length - a.length))
    }
    for (const l of ['en', 'fr'] as const) for (const w of LANGUAGE_HINTS[l]) this.hints[l].add(w)
    // A word both languages use says nothing about which one this is.
    for (const w of [...this.hints.en]) if (this.hints.fr.has(w)) { this.hints.en.delete(w); this.hints.fr.delete(w) }
  }

  /** Understand one utterance. */
  parse (text: string, options: RecognizerOptions = {}): VoiceParse {
    const tokens = tokenize(text)
    const norms = tokens.map((t) => t.norm)
    const units = this.tag(norms, tokens)
    const detected = options.lang ?? this.detect(text, norms)
    const none = (explanation: string, lang: Lang = detected ?? 'en', confidence = 1): VoiceParse =>
      ({ text, lang, intent: 'None', confidence, slots: {}, spans: [], explanation })

    // The span that anchors (^ $) refer to: without wake words and the politeness around the request.
    const [first, last] = trim(units, 0, units.length - 1)
    if (first > last) return none('nothing but a wake word or filler')

    // An out-of-domain word vetoes the clause it is in: `turn on the lights` is never a TurnOn of something else. A
    // request in another clause may stand if it names its own target (`mute the kitchen, I'm on the phone`), not a
    // pronoun that could mean the out-of-domain thing (`the heating, turn it up`).
    const ood = new Set<number>()
    let oodWord: string | undefined
    for (const u of units) {
      // `four` is an oven in French (`le four est allumé ?`), not the number the tagger took it for.
      const word = u.type === 'word' && !u.pad ? u.norm : u.type === 'num' && u.to - u.from === 1 && detected === 'fr' ? norms[u.from] ?? '' : ''
      if (OUT_OF_DOMAIN.has(word)) { ood.add(u.clause); oodWord ??= word }
    }
    const outOfDomain = (): VoiceParse => none(`out of domain: "${oodWord ?? ''}" is not something this home can do`)
    if (ood.size > 0 && units.every((u) => ood.has(u.clause))) return outOfDomain()

    const tried = new Set<CompiledTemplate>()
    for (const u of units) {
      if (u.type !== 'word') continue
      for (const w of [u.norm, u.alt]) {
        const list = w === undefined ? undefined : this.byWord.get(w)
        if (list !== undefined) for (const ct of list) tried.add(ct)
      }
    }
    for (const ct of this.unindexed) tried.add(ct)
    const candidates = [...tried].filter((ct) => options.lang === undefined || ct.lang === options.lang)

    // Anchors (^ $) hold at the request's ends, and for the tolerant pass at every clause's: a request often follows
    // a remark (`j'aime pas celle-là, mets la suivante`).
    const spans: Array<[number, number]> = [[first, last]]
    for (let k = 0; k < units.length;) {
      let end = k
      while (end + 1 < units.length && units[end + 1]?.clause === units[k]?.clause) end++
      const [a, b] = trim(units, k, end)
      if (a <= b && (a !== first || b !== last)) spans.push([a, b])
      k = end + 1
    }
    const { strict, loose } = this.search(candidates, units, tokens, text, spans, ood)
    if (strict.best !== undefined) {
      const { best, runnerUp } = strict
      let confidence = best.explained / (best.explained + best.extra)
      // Another intent explaining the utterance with as many template words is a real doubt: say so in the score.
      if (runnerUp !== undefined && runnerUp.consumed === best.consumed) confidence *= 0.7
      return this.result(text, detected, units, best, Math.round((0.5 + 0.5 * confidence) * 100) / 100)
    }
    // No template explains every word: the tolerant pass, its confidence dropping with the share left unexplained.
    if (loose.best === undefined) return ood.size > 0 ? outOfDomain() : none('no template explains every word', detected ?? 'en', 0.9)
    const { best, runnerUp } = loose
    let confidence = 1 - best.cost / Math.max(1, best.size)
    if (runnerUp !== undefined && runnerUp.cost === best.cost && runnerUp.consumed === best.consumed) confidence *= 0.7
    return this.result(text, detected, units, best, Math.round((0.5 + 0.4 * confidence) * 100) / 100)
  }

  private result (text: string, detected: Lang | undefined, units: readonly Unit[], best: Candidate, confidence: number): VoiceParse {
    return {
      text,
      lang: detected ?? best.ct.lang,
      intent: best.ct.t.intent,
      confidence,
      slots: best.slots,
      spans: best.spans,
      explanation: `${best.ct.lang} ${best.ct.t.intent}: ${best.ct.t.pattern}${best.cost > 0 ? ` (tolerated: ${best.unexplainedUnits.map((k) => units[k]?.value ?? '').join(' ')})` : ''}`
    }
  }

  /**
   * Match and judge every candidate template, once: a match that explains every word joins the strict pool, one
   * that leaves words unexplained the tolerant pool if {@link Recognizer.tolerable} lets it stand. Each pool keeps
   * its best candidate and the best of another intent.
   */
  private search (templates: readonly CompiledTemplate[], units: readonly Unit[], tokens: readonly Token[], text: string, spans: ReadonlyArray<readonly [number, number]>, ood: ReadonlySet<number>): { strict: Pool; loose: Pool } {
    const strict: Pool = {}
    const loose: Pool = {}
    const add = (pool: Pool, c: Candidate): void => {
      if (pool.best === undefined || better(c, pool.best)) {
        if (pool.best !== undefined && pool.best.ct.t.intent !== c.ct.t.intent) pool.runnerUp = pool.best
        pool.best = c
      } else if (pool.best.ct.t.intent !== c.ct.t.intent && (pool.runnerUp === undefined || better(c, pool.runnerUp))) {
        pool.runnerUp = c
      }
    }
    for (const ct of templates) {
      let previous: number[] | undefined
      for (let s = 0; s < (ct.p.anchored ? spans.length : 1); s++) {
        const [first, last] = spans[s] as readonly [number, number]
        const consumed = matchPattern(ct.p, units, first, last)
        if (consumed === undefined || (previous !== undefined && sameList(previous, consumed))) continue
        previous = consumed
        const c = this.evaluate(ct, units, consumed, tokens, text)
        if (c === undefined) continue
        if (c.cost === 0) add(strict, c)
        else if (this.tolerable(c, units, consumed) && (ood.size === 0 || (!ood.has(units[consumed[0] as number]?.clause ?? -1) && hasTarget(c.slots)))) add(loose, c)
      }
    }
    return { strict, loose }
  }

  /**
   * Whether a tolerant match may stand: the words nothing explains are a remark (another clause) or a lead-in
   * before the request, never what the verb acts on (after it in its clause, `turn up the heat`) nor a word
   * glued to the cue (`car battery`) nor a question word before a verb (`what's playing`); at most half of the utterance; and the slot the intent cannot do without
   * (an alarm's time, a volume's level) is there.
   */
  private tolerable (c: Candidate, units: readonly Unit[], consumed: readonly number[]): boolean {
    const intent = c.ct.t.intent
    if (intent === 'SetAlarm' && c.slots.time === undefined) return false
    if (intent === 'SetVolume' && c.slots.level === undefined) return false
    const head = consumed[0] as number
    const clause = units[head]?.clause
    const unexplained = new Set(c.unexplainedUnits)
    const taken = new Set(consumed)
    // A verb's object comes first after it: until a word of substance (a target, a number, the media, one of the
    // intent's own words) is explained there, an unexplained word is what the verb acts on. After the object, a word
    // is a tail (`bump the volume up a couple notches`) unless it is glued to a target (`open the garage door`).
    let object = false
    for (let k = 0; k < units.length; k++) {
      const u = units[k] as Unit
      if (u.clause !== clause) continue
      if (!unexplained.has(k)) {
        if (k > head && !taken.has(k) && !u.wake && !(u.type === 'word' && (isPadding(u) || GLUE.has(u.norm)))) object = true
        continue
      }
      // A quantity before a noun is not a compound: `ten thousand steps`, `dix mille pas`.
      if (k === head - 1 && u.type !== 'num') return false
      if (NOUN_CUED.has(intent)) continue
      if (QUESTION_WORDS.has(u.norm)) return false
      if (k > head && (!object || isTarget(units[k - 1]))) return false
    }
    return c.cost / Math.max(1, c.size) <= MAX_UNEXPLAINED_SHARE
  }

  /** Tag tokens as units: the longest of a time, a number, or a phrase of the home at each position. */
  private tag (norms: readonly string[], tokens: readonly Token[]): Unit[] {
    const units: Unit[] = []
    let i = 0
    let clause = 0
    const push = (u: Omit<Unit, 'clause' | 'pad' | 'wake'> & Partial<Pick<Unit, 'pad' | 'wake'>>): void => {
      if (tokens[u.from]?.pause === true) clause++
      units.push({ wake: false, pad: false, ...u, clause })
    }
    // Wake word: `[hey|dis|hé…] cortana` anywhere (people also say it last: "turn it off, Cortana").
    while (i < norms.length) {
      const w = norms[i] as string
      if (w === WAKE_WORD || (WAKE_LEADS.has(w) && norms[i + 1] === WAKE_WORD)) {
        const len = w === WAKE_WORD ? 1 : 2
        push({ type: 'word', norm: WAKE_WORD, value: WAKE_WORD, from: i, to: i + len, wake: true })
        i += len
        continue
      }
      const wrapper = this.wrapperAt(norms, i)
      if (wrapper > 0) {
        push({ type: 'word', norm: norms.slice(i, i + wrapper).join(' '), value: w, from: i, to: i + wrapper, pad: true })
        i += wrapper
        continue
      }
      if (CLAUSE_BREAKS.has(w) && units.length > 0) {
        clause++
        push({ type: 'word', norm: w, value: w, from: i, to: i + 1, pad: true })
        i++
        continue
      }
      const time = readTime(norms, i)
      const num = time === undefined ? readNumber(norms, i) : undefined
      const phrase = this.vocabulary.longest(norms, i)
      const tLen = time?.length ?? num?.length ?? 0
      if (phrase !== undefined && (phrase.length > tLen || (phrase.length === tLen && phrase.entry.type === 'device'))) {
        push({ type: phrase.entry.type, norm: phrase.entry.value, value: phrase.entry.value, from: i, to: i + phrase.length })
        i += phrase.length
      } else if (time !== undefined) {
        push({ type: 'time', norm: formatTime(time), value: formatTime(time), from: i, to: i + time.length })
        i += time.length
      } else if (num !== undefined) {
        push({ type: 'num', norm: String(num.value), value: num.value, from: i, to: i + num.length })
        i += num.length
      } else {
        push({ type: 'word', norm: w, value: w, from: i, to: i + 1, alt: this.baseForm(w) })
        i++
      }
    }
    return units
  }

  /** Length of the longest wrapper phrase at `norms[i]`, or 0. */
  private wrapperAt (norms: readonly string[], i: number): number {
    for (const ws of this.wrappers.get(norms[i] as string) ?? []) {
      if (ws.every((w, j) => norms[i + j] === w)) return ws.length
    }
    return 0
  }

  /** The base form a template uses for an inflected word (`turning` → `turn`), unless the word has its own role. */
  private baseForm (w: string): string | undefined {
    const cached = this.bases.get(w)
    if (cached !== undefined) return cached === '' ? undefined : cached
    let base = ''
    if (!this.listed.has(w)) for (const b of baseForms(w)) if (b !== w && this.templateWords.has(b)) { base = b; break }
    // Bounded: the words people say are not.
    if (this.bases.size >= 10_000) this.bases.clear()
    this.bases.set(w, base)
    return base === '' ? undefined : base
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
      // A verb that also means put or pass (`mets`, `put on`) is no MediaPlay when what follows it is not something to
      // play (`mets la table`), in either pass: those words are what it acts on, whatever else could explain them.
      if (m !== undefined && ct.t.playableObject === true && !playable(units, tokens, text, m, ct.extras)) return undefined
      if (m !== undefined) {
        for (let k = m.from; k < m.to; k++) explained[k] = 1
        if (!m.generic) { slots.media = text.slice((tokens[(units[m.core] as Unit).from] as Token).start, (tokens[(units[m.to - 1] as Unit).to - 1] as Token).end); span('media', m.core, m.to - 1); mediaUsed = true }
      }
    }

    for (let k = 0; k < units.length; k++) {
      const u = units[k] as Unit
      if (u.wake || u.pad) { explained[k] = 1; continue }
      switch (u.type) {
        case 'device': devices.push(u.value as string); span('device', k, k); explained[k] = 1; break
        case 'room': rooms.push(u.value as string); span('room', k, k); explained[k] = 1; break
        case 'kind': kinds.push(u.value as DeviceKindName); explained[k] = 1; break
        case 'all': slots.all = true; span('all', k, k); explained[k] = 1; break
        case 'num':
          if (NUMBER_SLOT[intent] !== undefined) { numbers.push(u.value as number); numberUnits.push(k); explained[k] = 1 } else if (units[k + 1]?.type === 'word' && DURATIONS.has(units[k + 1]?.norm ?? '')) explained[k] = 1
          break
        case 'time':
          if (intent === 'SetAlarm') { time = u.value as string; span('time', k, k); explained[k] = 1 }
          break
        case 'word':
          if (explained[k] === 1) break
          if (FILLERS.has(u.norm) || GLUE.has(u.norm)) explained[k] = 1
          else if (ct.extras.has(u.norm) || (u.alt !== undefined && ct.extras.has(u.alt))) { explained[k] = 1; extra++ }
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

    // What nothing explains: none for a strict match; for a tolerant one a cost, a remark in another clause
    // counting half (tolerable() decides whether the leftovers may stand at all).
    const unexplainedUnits: number[] = []
    let cost = 0
    let size = 0
    const clauses = new Set(consumed.map((i) => units[i]?.clause))
    for (let k = 0; k < units.length; k++) {
      const u = units[k] as Unit
      if (!u.wake && !u.pad) size++
      if (explained[k] === 1) continue
      unexplainedUnits.push(k)
      cost += clauses.has(u.clause) ? 1 : 0.5
    }

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
    const head = consumed[0] ?? 0
    let lead = true
    for (let k = head - 1; lead && k >= 0 && units[k]?.clause === units[head]?.clause; k--) if (!isPadding(units[k]) && units[k]?.wake !== true) lead = false
    return { ct, slots, spans, consumed: consumed.length, mediaUsed, explained: units.length - extra, extra, cost, size, unexplainedUnits, lead }
  }

  /** The media span after the verb: `[some] jazz` in `play some jazz in the kitchen`. */
  private media (units: readonly Unit[], from: number): { from: number; core: number; to: number; generic: boolean } | undefined {
    let to = from
    while (to < units.length) {
      const u = units[to] as Unit
      // The title ends where the clause of its verb does: `mets la musique, il fait beau`.
      if (isTarget(u) || u.wake || u.clause !== units[from - 1]?.clause) break
      if (u.type === 'word' && TARGET_PREPS.has(u.norm) && to > from && introducesTarget(units, to)) break
      to++
    }
    // Politeness at the end is not part of the title; other filler may be (`hip hop`).
    while (to > from && units[to - 1]?.type === 'word' && (POLITE_END.has(units[to - 1]?.norm ?? '') || GLUE.has(units[to - 1]?.norm ?? ''))) to--
    let core = from
    while (core < to && units[core]?.type === 'word' && MEDIA_LEADS.has(units[core]?.norm ?? '')) {
      // A definite article right before a title is part of it: `La Vie en rose`, `the Beatles`.
      const next = units[core + 1]
      if (DEFINITE.has(units[core]?.norm ?? '') && next !== undefined && core + 1 < to && !MEDIA_LEADS.has(next.norm) && !MEDIA_GENERIC.has(next.norm)) break
      core++
    }
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
  /** Tolerant pass: units nothing explains (a remark in another clause counts half), out of `size` units. */
  cost: number
  size: number
  unexplainedUnits: number[]
  /** Tolerant pass: the template starts its clause, as a request does (`unmute the bedroom, I can't hear a thing`). */
  lead: boolean
}

/**
 * The most selective of a template's required word sets, to index it by: one without glue or filler words (which
 * most utterances contain), then the smallest.
 */
function selective (sets: ReadonlyArray<ReadonlySet<string>>): ReadonlySet<string> | undefined {
  let best: ReadonlySet<string> | undefined
  let bestCost = Infinity
  for (const set of sets) {
    let cost = set.size
    for (const w of set) if (GLUE.has(w) || FILLERS.has(w)) cost += 1000
    if (cost < bestCost) { best = set; bestCost = cost }
  }
  return best
}

interface Pool { best?: Candidate | undefined; runnerUp?: Candidate | undefined }

function sameList (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function better (a: Candidate, b: Candidate): boolean {
  if (a.cost !== b.cost) return a.cost < b.cost
  if (a.cost > 0 && a.lead !== b.lead) return a.lead
  if (a.cost > 0 && (a.ct.t.remark === true) !== (b.ct.t.remark === true)) return b.ct.t.remark === true
  if (a.consumed !== b.consumed) return a.consumed > b.consumed
  if (a.mediaUsed !== b.mediaUsed) return !a.mediaUsed
  return a.ct.order < b.ct.order
}

function isPadding (u: Unit | undefined): boolean {
  return u?.type === 'word' && (u.pad || FILLERS.has(u.norm))
}

/** [first, last] narrowed past wake words and padding at both ends. */
function trim (units: readonly Unit[], first: number, last: number): [number, number] {
  while (first <= last && (units[first]?.wake === true || isPadding(units[first]))) first++
  while (last >= first && (units[last]?.wake === true || isPadding(units[last]))) last--
  return [first, last]
}

/**
 * Whether the words after a verb that also means put or pass (`mets`, `passe`, `put on`) are something to play: a
 * media word (`mets la radio`, `put on my playlist`), what a partitive or quantity introduces (`mets du jazz`,
 * `mets-moi un peu de Brel`, `put on some Miles Davis`), or a name: said without a determiner (`mets Nina Simone`),
 * or capitalised after one (`put on La Vie en rose`, `mets Les Rita Mitsouko`). A common noun after a determiner is
 * what the verb puts or passes: `mets la table`, `passe-moi le sel`, `put on a jacket`. Capitals say nothing in an
 * utterance written all in capitals.
 */
function playable (units: readonly Unit[], tokens: readonly Token[], text: string, m: { from: number; to: number }, mediaWords: ReadonlySet<string>): boolean {
  let determiner = false
  let name: Unit | undefined
  for (let k = m.from; k < m.to; k++) {
    const u = units[k] as Unit
    const w = u.type === 'word' ? u.norm : ''
    // A determiner only when a word follows it: `son manteau`, but `mets le son`.
    if (DETERMINERS.has(w) && k + 1 < m.to) { if (name === undefined) determiner = true; continue }
    if (MEDIA_GENERIC.has(w) || mediaWords.has(w)) return true
    if (name !== undefined) continue
    if (PARTITIVES.has(w)) return true
    // `mets-moi`, `mets-nous`, `put on me`: who it is for, not what.
    if (MEDIA_LEADS.has(w)) continue
    name = u
  }
  if (!determiner) return true
  if (name === undefined) return false
  const first = text[(tokens[name.from] as Token).start] ?? ''
  return first !== first.toLowerCase() && text !== text.toUpperCase()
}

function hasTarget (s: Slots): boolean {
  return s.device !== undefined || s.room !== undefined || s.kind !== undefined || s.all === true
}

function isTarget (u: Unit | undefined): boolean {
  return u !== undefined && (u.type === 'device' || u.type === 'room' || u.type === 'kind' || u.type === 'all')
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
