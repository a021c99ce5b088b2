/**
 * The template language of the grammars, compiled once and matched over an utterance's units (words, and the
 * entities the home vocabulary, numbers and times were tagged as). A template says which words carry an intent;
 * whatever it does not consume must be explained otherwise (a target, filler, glue, the intent's extra words) or
 * the utterance is not that intent. That rule is what keeps `turn on the lights` from being a TurnOn.
 *
 * Syntax (folded words, separated by spaces):
 *
 * | form | meaning |
 * | --- | --- |
 * | `word` | that word |
 * | `(a\|b c)` | one of the alternatives, each a sequence (tried in order, so write the longer first) |
 * | `[a b]` `[a\|b]` | optional sequence, or optional alternatives |
 * | `…` | a gap: any units, not consumed (they must be explained by something else) |
 * | `{num}` `{time}` `{device}` `{room}` `{kind}` `{all}` | one unit tagged as that entity |
 * | `^` `$` | the start or end of the utterance (after wake words and fillers are set aside) |
 */

export type UnitType = 'word' | 'num' | 'time' | 'device' | 'room' | 'kind' | 'all'

/** What the matcher sees of one unit; `alt` is its base form when it is an inflected verb (`turning` → `turn`). */
export interface MatchUnit { readonly type: UnitType; readonly norm: string; readonly alt?: string | undefined }

type El =
  | { t: 'word'; w: string }
  | { t: 'ph'; type: UnitType }
  | { t: 'alt'; alts: El[][] }
  | { t: 'opt'; seq: El[] }
  | { t: 'gap' }
  | { t: 'start' }
  | { t: 'end' }

export interface CompiledPattern {
  readonly source: string
  readonly els: readonly El[]
  /** Every literal word, for language detection. */
  readonly words: readonly string[]
  /** A match consumes one of these words (undefined: no such guarantee). */
  readonly firstWords: ReadonlySet<string> | undefined
  /** Uses `^` or `$`. */
  readonly anchored: boolean
  /**
   * For every element a match cannot skip, the words one of which it consumes there: an index may pick the most
   * selective (`heart` rather than `my` in `(my|your) heart`).
   */
  readonly requiredWords: ReadonlyArray<ReadonlySet<string>>
}

const PLACEHOLDERS = new Set<UnitType>(['num', 'time', 'device', 'room', 'kind', 'all'])

/** Compile a template; throws on a syntax error (grammars are code, checked by a unit test). */
export function compilePattern (source: string): CompiledPattern {
  const toks = source.replace(/([()[\]|])/g, ' $1 ').replace(/…|\.\.\./g, ' … ').trim().split(/\s+/)
  let i = 0
  const literal: string[] = []
  const seq = (closers: readonly string[]): El[] => {
    const out: El[] = []
    while (i < toks.length && !closers.includes(toks[i] as string)) {
      const t = toks[i++] as string
      if (t === '(') {
        const alts: El[][] = [seq(['|', ')'])]
        while (toks[i] === '|') { i++; alts.push(seq(['|', ')'])) }
        if (toks[i++] !== ')') throw new Error(`pattern ${JSON.stringify(source)}: missing )`)
        out.push({ t: 'alt', alts })
      } else if (t === '[') {
        const alts: El[][] = [seq(['|', ']'])]
        while (toks[i] === '|') { i++; alts.push(seq(['|', ']'])) }
        if (toks[i++] !== ']') throw new Error(`pattern ${JSON.stringify(source)}: missing ]`)
        out.push({ t: 'opt', seq: alts.length === 1 ? alts[0] as El[] : [{ t: 'alt', alts }] })
      } else if (t === '…') {
        out.push({ t: 'gap' })
      } else if (t === '^') {
        out.push({ t: 'start' })
      } else if (t === '$') {
        out.push({ t: 'end' })
      } else if (/^\{\w+\}$/.test(t)) {
        const type = t.slice(1, -1) as UnitType
        if (!PLACEHOLDERS.has(type)) throw new Error(`pattern ${JSON.stringify(source)}: unknown placeholder ${t}`)
        out.push({ t: 'ph', type })
      } else if (t === ')' || t === ']' || t === '|') {
        throw new Error(`pattern ${JSON.stringify(source)}: unexpected ${t}`)
      } else {
        literal.push(t)
        out.push({ t: 'word', w: t })
      }
    }
    return out
  }
  const els = seq([])
  if (i < toks.length) throw new Error(`pattern ${JSON.stringify(source)}: unexpected ${toks[i] ?? ''}`)
  const requiredWords: Array<ReadonlySet<string>> = []
  for (const el of els) {
    if (el.t !== 'word' && el.t !== 'alt') continue
    const w = firstWords([el])
    if (w !== undefined) requiredWords.push(w)
  }
  return { source, els, words: literal, firstWords: firstWords(els), anchored: /[\^$]/.test(source), requiredWords }
}

/**
 * Words one of which every match must consume (those of the first element that is not optional), or undefined
 * when the pattern starts with a placeholder. The recognizer indexes templates by them, so an utterance is matched
 * only against the few templates whose leading words it contains.
 */
function firstWords (els: readonly El[]): ReadonlySet<string> | undefined {
  for (const el of els) {
    switch (el.t) {
      case 'word': return new Set([el.w])
      case 'ph': return undefined
      case 'alt': {
        const out = new Set<string>()
        for (const alt of el.alts) {
          const w = firstWords(alt)
          if (w === undefined) return undefined
          for (const x of w) out.add(x)
        }
        return out
      }
      default: break // optional parts, gaps and anchors require nothing
    }
  }
  return undefined
}

/**
 * Match a pattern anywhere in `units`; `^` and `$` stand for `first` and `last + 1` (the request without the wake
 * word and padding around it). Returns the indexes of the units it consumed (the earliest match, alternatives in
 * written order), or undefined.
 */
export function matchPattern (p: CompiledPattern, units: readonly MatchUnit[], first: number, last: number): number[] | undefined {
  const consumed: number[] = []
  const run = (els: readonly El[], k: number, pos: number, cont: (pos: number) => boolean): boolean => {
    if (k === els.length) return cont(pos)
    const el = els[k] as El
    switch (el.t) {
      case 'word': {
        const u = units[pos]
        if (u?.type !== 'word' || (u.norm !== el.w && u.alt !== el.w)) return false
        consumed.push(pos)
        if (run(els, k + 1, pos + 1, cont)) return true
        consumed.pop()
        return false
      }
      case 'ph': {
        const u = units[pos]
        if (u?.type !== el.type) return false
        consumed.push(pos)
        if (run(els, k + 1, pos + 1, cont)) return true
        consumed.pop()
        return false
      }
      case 'alt':
        for (const alt of el.alts) {
          if (run(alt, 0, pos, (p2) => run(els, k + 1, p2, cont))) return true
        }
        return false
      case 'opt':
        if (run(el.seq, 0, pos, (p2) => run(els, k + 1, p2, cont))) return true
        return run(els, k + 1, pos, cont)
      case 'gap':
        for (let p2 = pos; p2 <= units.length; p2++) if (run(els, k + 1, p2, cont)) return true
        return false
      case 'start':
        return pos === first && run(els, k + 1, pos, cont)
      case 'end':
        return pos === last + 1 && run(els, k + 1, pos, cont)
    }
  }
  for (let start = 0; start < units.length; start++) {
    consumed.length = 0
    if (run(p.els, 0, start, () => true)) return consumed.slice()
  }
  return undefined
}
