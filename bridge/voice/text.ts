/**
 * Text normalisation for the recognizer: one pass that splits an utterance into word tokens, each with its span in
 * the original text (so every slot can say which words it came from, as LUIS/CLU entities do) and a folded form
 * that ignores case, accents, ligatures and apostrophe styles.
 *
 * Elisions and hyphens split words: `l'enceinte` → `l` `enceinte`, `quatre-vingts` → `quatre` `vingts`,
 * `what's` → `what` `s`, `montre-moi` → `montre` `moi`. Times written as one word stay one token (`6:30`, `6h30`,
 * `21h`), and `%` is a token of its own.
 */

export interface Token {
  /** Folded form: lower case, no accents, `œ` → `oe`. */
  readonly norm: string
  /** Offset of the first character in the original utterance. */
  readonly start: number
  /** Offset after the last character. */
  readonly end: number
  /** Punctuation (`, ; : . ! ? …` or a dash between spaces) separates it from the token before: a new clause. */
  readonly pause: boolean
}

// A clock time written as one word (6:30, 6h30, 21h), a run of digits, a run of letters (with combining marks, so a
// decomposed é stays inside its word), or a percent sign. Everything else (spaces, punctuation, apostrophes of
// every style, hyphens) separates tokens.
const TOKEN_RE = /\d{1,2}[:h]\d{2}(?!\d)|\d{1,2}h(?![\p{L}\d])|\d+|[\p{L}\p{M}]+|%/gu

const PAUSE_RE = /[,;:.!?…]|\s[-–—]\s/u

const LIGATURES: Readonly<Record<string, string>> = { œ: 'oe', æ: 'ae', ß: 'ss' }

/** Fold one word: `Éteins` → `eteins`, `cœur` → `coeur`. */
export function fold (word: string): string {
  return word.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/[œæß]/g, (c) => LIGATURES[c] ?? c)
}

/** Split an utterance into folded tokens with their spans. */
export function tokenize (text: string): Token[] {
  const out: Token[] = []
  TOKEN_RE.lastIndex = 0
  let prevEnd = 0
  for (let m = TOKEN_RE.exec(text); m !== null; m = TOKEN_RE.exec(text)) {
    const pause = out.length > 0 && PAUSE_RE.test(text.slice(prevEnd, m.index))
    out.push({ norm: fold(m[0]), start: m.index, end: m.index + m[0].length, pause })
    prevEnd = m.index + m[0].length
  }
  return out
}

/** The folded words of a phrase, for building indexes: `Porte d'Entrée` → `['porte', 'd', 'entree']`. */
export function words (phrase: string): string[] {
  return tokenize(phrase).map((t) => t.norm)
}

/** A phrase's comparison key: its folded words joined by one space. */
export function phraseKey (phrase: string): string {
  return words(phrase).join(' ')
}

// Inflection endings people put on a verb the grammar lists in its base form: `turning` → `turn`, `pausing` →
// `pause`, `stopping` → `stop`, `baissiez` → `baisse`, `allumez` → `allume`, `zapper` → `zappe`.
const ENDINGS = ['ing', 'iez', 'ions', 'ez', 'er', 'es', 'ent', 'ons']

/**
 * Candidate base forms of an inflected word (`turning` → `turn`, `turne`, `tur`), longest ending first; the
 * recognizer keeps the first one its grammar knows. Empty for short words, which are not inflected forms.
 */
export function baseForms (word: string): string[] {
  const out: string[] = []
  for (const e of ENDINGS) {
    if (word.length < e.length + 3 || !word.endsWith(e)) continue
    const stem = word.slice(0, -e.length)
    out.push(stem, `${stem}e`)
    // A doubled final consonant: `stopping` → `stop`, `skipping` → `skip`.
    if (stem.length > 2 && stem.at(-1) === stem.at(-2)) out.push(stem.slice(0, -1))
  }
  return out
}
