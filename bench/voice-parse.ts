/**
 * Parse time of the recognizer: every corpus utterance, many rounds, against the demo home (9 devices, the
 * baseline) and against a home of 10,000 named devices, in the same process. Prints one JSON line per case and a
 * summary with the p99 ratio (the trie keeps the home's size out of the per-utterance cost). Bounded: a fixed
 * number of rounds.
 */
import { createRecognizer, type Recognizer } from '../bridge/voice/index.ts'
import { demoRecognizer } from './voice-home.ts'
import { loadCorpus } from './voice-eval.ts'

const OWNERS = ['alice', 'bob', 'chloe', 'david', 'emma', 'farid', 'gabriel', 'hana', 'ines', 'jules', 'karim', 'lea', 'marc', 'nina', 'oscar', 'paul']
const PLACES = ['kitchen', 'bedroom', 'office', 'garage', 'garden', 'attic', 'porch', 'hall', 'nursery', 'studio']
const KINDS = ['speaker', 'camera', 'band']

/** 10,000 distinct device names sharing prefixes the way real homes do: `alice attic speaker 17`. */
export function bigHomeNames (n = 10_000): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    out.push(`${OWNERS[i % OWNERS.length] as string} ${PLACES[Math.floor(i / OWNERS.length) % PLACES.length] as string} ${KINDS[i % KINDS.length] as string} ${Math.floor(i / (OWNERS.length * PLACES.length))}`)
  }
  return out
}

interface Case { name: string; devices: number; parses: number; p50Us: number; p99Us: number; maxUs: number; meanUs: number }

function summarize (name: string, devices: number, samples: number[]): Case {
  const sorted = samples.sort((a, b) => a - b)
  const at = (q: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
  return { name, devices, parses: sorted.length, p50Us: at(0.5), p99Us: at(0.99), maxUs: at(1), meanUs: Math.round(mean * 10) / 10 }
}

function timeRound (recognizer: Recognizer, texts: readonly string[], into: number[]): void {
  for (const t of texts) {
    const t0 = process.hrtime.bigint()
    recognizer.parse(t)
    into.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
}

export function runParseBench (rounds = 20): { cases: Case[]; summary: Record<string, unknown> } {
  const corpus = loadCorpus().map((e) => e.text)
  const names = bigHomeNames()
  // Utterances that name devices of the big home, so the trie's deep branches are walked too.
  const texts = [...corpus, ...names.slice(0, 200).map((n, i) => (i % 2 === 0 ? `turn off ${n}` : `éteins ${n} s'il te plaît`))]
  const small = demoRecognizer()
  const t0 = performance.now()
  const big = createRecognizer({ devices: names.map((name) => ({ name })) })
  const buildMs = Math.round(performance.now() - t0)
  // Warm-up (JIT), not measured; then the two homes take turns, round by round, so a busy moment of the machine
  // (two cores shared with other work) falls on both alike.
  for (let r = 0; r < 3; r++) { timeRound(small, texts, []); timeRound(big, texts, []) }
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < rounds; r++) { timeRound(small, texts, a); timeRound(big, texts, b) }
  const baseline = summarize('demo home', 9, a)
  const large = summarize('10,000 named devices', names.length, b)
  const summary = { bench: 'voice-parse', buildMsFor10k: buildMs, p99Us: large.p99Us, p99RatioToBaseline: Math.round(100 * large.p99Us / Math.max(0.1, baseline.p99Us)) / 100, targetP99Us: 1000, ok: large.p99Us < 1000 }
  return { cases: [baseline, large], summary }
}
