/** "Did you mean …?" for a misspelt key or value: the closest known word, when it is close enough to be a guess. */

/**
 * Edit distance with adjacent transpositions (optimal string alignment): `prot` → `port` is one edit, the typo
 * people actually make. Three rows; inputs are short (keys, flags, codes), so no cut-off is needed.
 */
export function editDistance (a: string, b: string): number {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  let before = new Array<number>(b.length + 1).fill(0)
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  let cur = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (before[j - 2] as number) + 1)
      cur[j] = v
    }
    [before, prev, cur] = [prev, cur, before]
  }
  return prev[b.length] as number
}

/**
 * The known word `word` most likely stands for, or undefined. Case is ignored; a word that one known word starts
 * (`expectations` → `expect`, `minMessages` → `min`) or contains counts as close.
 */
export function suggest (word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestScore = Infinity
  for (const k of known) {
    const kl = k.toLowerCase()
    let score = editDistance(w, kl)
    const limit = Math.max(1, Math.floor(Math.max(w.length, kl.length) / 3))
    if (score > limit) {
      // A longer or shorter spelling of the same word: `expectations`, `minMessages`, `OUT_OF_RANGE`.
      if (kl.length >= 3 && w.length >= 3 && (w.startsWith(kl) || kl.startsWith(w) || kl.includes(w) || w.includes(kl))) score = limit + Math.abs(w.length - kl.length) / 100
      else continue
    }
    if (score < bestScore) { best = k; bestScore = score }
  }
  return best
}

/** ` (did you mean "x"?)` or the empty string. */
export function didYouMean (word: string, known: readonly string[]): string {
  const s = suggest(word, known)
  return s === undefined ? '' : ` (did you mean "${s}"?)`
}
