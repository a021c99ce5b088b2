/**
 * `npm run eval:voice`: the recognizer against the labelled corpus (bridge/voice/corpus/*.jsonl), per language and
 * per split (held-out = written before the grammar and never tuned against; breadth = phrasings in styles the
 * templates did not anticipate, each batch scored before the recognizer was changed for it; dev = the rest). Prints
 * intent accuracy, slot accuracy, exact-match rate and the confusions, then one machine-readable JSON line. Exit 1
 * when a target is missed: intent ≥ 95 % and exact ≥ 90 % per language, held-out within 5 points of dev.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { foldValue, type IntentName, type Lang, type Slots } from '../bridge/voice/index.ts'
import { demoRecognizer } from './voice-home.ts'

interface Example { lang: Lang; text: string; intent: IntentName; slots: Slots; split: string; file: string; line: number }

const corpusDir = fileURLToPath(new URL('../bridge/voice/corpus/', import.meta.url))

export function loadCorpus (dir = corpusDir): Example[] {
  const out: Example[] = []
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    const split = f.replace(/\.jsonl$/, '')
    readFileSync(join(dir, f), 'utf8').split('\n').forEach((l, i) => {
      if (l.trim() === '') return
      const e = JSON.parse(l) as Omit<Example, 'split' | 'file' | 'line'>
      out.push({ ...e, split, file: f, line: i + 1 })
    })
  }
  return out
}

const norm = (v: unknown): unknown => {
  if (typeof v === 'string') return foldValue(v)
  if (Array.isArray(v)) return v.map(norm).map(String).sort().join('|')
  return v
}

interface Score { n: number; intent: number; slotsOk: number; slotsTotal: number; exact: number }
const empty = (): Score => ({ n: 0, intent: 0, slotsOk: 0, slotsTotal: 0, exact: 0 })
const pct = (a: number, b: number): number => b === 0 ? 100 : Math.round(1000 * a / b) / 10

interface Evaluation {
  scores: Map<string, Score>
  confusions: Map<string, string[]>
  failures: string[]
  /** The machine-readable summary: per language, all / heldout / dev. */
  result: Record<string, unknown>
  misses: string[]
}

/** Score a recognizer on the corpus (what `npm run eval:voice` prints; the tests assert the same targets). */
export function evaluateCorpus (recognizer = demoRecognizer(), corpus = loadCorpus()): Evaluation {
  const scores = new Map<string, Score>()
  const confusions = new Map<string, string[]>()
  const failures: string[] = []
  for (const ex of corpus) {
    const got = recognizer.parse(ex.text)
    const keys = new Set([...Object.keys(ex.slots), ...Object.keys(got.slots)])
    let ok = 0
    for (const k of keys) if (norm((ex.slots as Record<string, unknown>)[k]) === norm((got.slots as Record<string, unknown>)[k])) ok++
    const intentOk = got.intent === ex.intent
    const exact = intentOk && ok === keys.size
    for (const key of [`${ex.lang} ${ex.split}`, `${ex.lang} all`]) {
      const s = scores.get(key) ?? empty()
      s.n++; s.intent += intentOk ? 1 : 0; s.slotsOk += ok; s.slotsTotal += keys.size; s.exact += exact ? 1 : 0
      scores.set(key, s)
    }
    if (!intentOk) {
      const k = `${ex.lang} ${ex.intent} → ${got.intent}`
      confusions.set(k, [...(confusions.get(k) ?? []), ex.text])
    }
    if (!exact) failures.push(`${ex.file}:${ex.line} [${ex.lang}] ${JSON.stringify(ex.text)}\n    want ${ex.intent} ${JSON.stringify(ex.slots)}\n    got  ${got.intent} ${JSON.stringify(got.slots)} (${got.explanation})`)
  }
  const result: Record<string, unknown> = { bench: 'voice-eval', utterances: corpus.length }
  const misses: string[] = []
  for (const lang of ['en', 'fr'] as const) {
    const all = scores.get(`${lang} all`) ?? empty()
    const held = scores.get(`${lang} heldout`) ?? empty()
    const dev = scores.get(`${lang} dev`) ?? empty()
    const breadth = scores.get(`${lang} breadth`) ?? empty()
    result[lang] = {
      n: all.n, intent: pct(all.intent, all.n), slots: pct(all.slotsOk, all.slotsTotal), exact: pct(all.exact, all.n),
      heldout: { n: held.n, intent: pct(held.intent, held.n), exact: pct(held.exact, held.n) },
      dev: { n: dev.n, intent: pct(dev.intent, dev.n), exact: pct(dev.exact, dev.n) },
      breadth: { n: breadth.n, intent: pct(breadth.intent, breadth.n), exact: pct(breadth.exact, breadth.n) }
    }
    if (pct(all.intent, all.n) < 95) misses.push(`${lang} intent < 95%`)
    if (pct(all.exact, all.n) < 90) misses.push(`${lang} exact < 90%`)
    if (pct(dev.intent, dev.n) - pct(held.intent, held.n) > 5) misses.push(`${lang} held-out intent more than 5 points below dev`)
    if (pct(dev.exact, dev.n) - pct(held.exact, held.n) > 5) misses.push(`${lang} held-out exact more than 5 points below dev`)
  }
  result.targetsMet = misses.length === 0
  result.misses = misses
  return { scores, confusions, failures, result, misses }
}

function main (): number {
  const { scores, confusions, failures, result, misses } = evaluateCorpus()
  const rows = [...scores.entries()].sort(([a], [b]) => a.localeCompare(b))
  console.log('lang split      n  intent%  slot%  exact%')
  for (const [k, s] of rows) {
    const [lang, split] = k.split(' ')
    console.log(`${(lang ?? '').padEnd(5)}${(split ?? '').padEnd(9)}${String(s.n).padStart(4)}  ${String(pct(s.intent, s.n)).padStart(6)}  ${String(pct(s.slotsOk, s.slotsTotal)).padStart(5)}  ${String(pct(s.exact, s.n)).padStart(6)}`)
  }
  console.log(`\nconfusions (expected → got): ${confusions.size === 0 ? 'none' : ''}`)
  for (const [k, texts] of confusions) console.log(`  ${k} ×${texts.length}: ${texts.map((t) => JSON.stringify(t)).join(', ')}`)
  if (process.argv.includes('--verbose')) { console.log('\nnot exact:'); for (const f of failures) console.log(`  ${f}`) } else if (failures.length > 0) console.log(`\n${failures.length} not exact (--verbose lists them)`)
  console.log(JSON.stringify(result))
  return misses.length === 0 ? 0 : 1
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main()
