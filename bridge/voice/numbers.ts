/**
 * Numbers said as digits or words, in English and French: `fifty`, `twenty five`, `one hundred and ten`,
 * `cinquante`, `soixante-dix`, `quatre-vingts`, `quatre-vingt-dix-neuf`, `vingt et un`, `cent cinquante`, `ten
 * thousand`, `dix mille`, `mille deux cents`, with an
 * optional percent (`80%`, `80 percent`, `quatre-vingts pour cent`).
 *
 * Articles are not numbers: `a`, `an`, `one`, `un` and `une` alone read as words (`prends une photo`), and only count
 * before `hundred`/`cent`. Two numbers that do not compose stay two numbers (`six thirty` is 6 then 30, which the
 * alarm grammar reads as 06:30; `thirty six` is 36).
 */

const UNITS: Readonly<Record<string, number>> = {
  zero: 0, oh: 0, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
  deux: 2, trois: 3, quatre: 4, cinq: 5, sept: 7, huit: 8, neuf: 9,
  dix: 10, onze: 11, douze: 12, treize: 13, quatorze: 14, quinze: 15, seize: 16
}
// `one`/`un`/`une` only as the unit of a compound (`twenty one`, `vingt et un`) or before hundred/cent.
const ONE = new Set(['one', 'un', 'une'])
const TENS: Readonly<Record<string, number>> = {
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
  vingt: 20, trente: 30, quarante: 40, cinquante: 50, soixante: 60, septante: 70, huitante: 80, octante: 80, nonante: 90
}
const HUNDRED = new Set(['hundred', 'cent', 'cents'])
const THOUSAND = new Set(['thousand', 'mille'])

/** A number read from `words[i…]`: its value and how many words it used. */
export interface NumberMatch { value: number; length: number; percent: boolean }

function unitAt (words: readonly string[], i: number, allowOne: boolean): number | undefined {
  const w = words[i]
  if (w === undefined) return undefined
  if (allowOne && ONE.has(w)) return 1
  return UNITS[w]
}

/** 0–99 in words, or undefined. */
function below100 (words: readonly string[], i: number): { value: number; length: number } | undefined {
  const w = words[i]
  if (w === undefined) return undefined
  // quatre-vingt(s) [et] [un…dix-neuf]: 80–99, the French vigesimal form.
  if (w === 'quatre' && (words[i + 1] === 'vingt' || words[i + 1] === 'vingts')) {
    const rest = teenOrUnit(words, i + 2, true)
    return rest === undefined ? { value: 80, length: 2 } : { value: 80 + rest.value, length: 2 + rest.length }
  }
  const tens = TENS[w]
  if (tens !== undefined) {
    // soixante [et] onze…dix-neuf: 70–79; other tens take a unit 1–9 (`twenty five`, `vingt et un`).
    let j = i + 1
    if (words[j] === 'et' || words[j] === 'and') j++
    const rest = w === 'soixante' ? teenOrUnit(words, j, true) : undefined
    if (rest !== undefined) return { value: tens + rest.value, length: j - i + rest.length }
    const unit = unitAt(words, j, true)
    if (unit !== undefined && unit >= 1 && unit <= 9) return { value: tens + unit, length: j - i + 1 }
    return { value: tens, length: 1 }
  }
  return teenOrUnit(words, i, false)
}

/** 1–19 (0–19 without `allowOne`'s article words): `dix-sept` is dix + sept. */
function teenOrUnit (words: readonly string[], i: number, allowOne: boolean): { value: number; length: number } | undefined {
  const v = unitAt(words, i, allowOne)
  if (v === undefined) return undefined
  if (v === 10) {
    const next = unitAt(words, i + 1, false)
    if (next !== undefined && next >= 7 && next <= 9 && words[i + 1] !== 'oh') return { value: 10 + next, length: 2 }
  }
  return { value: v, length: 1 }
}

/** Read a number (digits or words, EN or FR) starting at `words[i]`, with an optional percent after it. */
export function readNumber (words: readonly string[], i: number): NumberMatch | undefined {
  const w = words[i]
  if (w === undefined) return undefined
  let value: number
  let length: number
  if (/^\d+$/.test(w)) {
    value = Number.parseInt(w, 10)
    length = 1
  } else if (THOUSAND.has(w)) {
    value = 1
    length = 0
  } else {
    // [a|one|un|deux…] hundred/cent [and] [0–99]
    const lead = HUNDRED.has(w) ? undefined : ((w === 'a' && words[i + 1] === 'hundred') || ONE.has(w) ? { value: 1, length: 1 } : below100(words, i))
    const h = lead === undefined ? i : i + lead.length
    if (HUNDRED.has(words[h] ?? '') && (lead === undefined || lead.value < 10)) {
      let j = h + 1
      if (words[j] === 'and' && below100(words, j + 1) !== undefined) j++
      const rest = below100(words, j)
      value = (lead?.value ?? 1) * 100 + (rest?.value ?? 0)
      length = j - i + (rest?.length ?? 0)
    } else if (lead !== undefined && w !== 'a' && !ONE.has(w)) {
      value = lead.value
      length = lead.length
    } else {
      return undefined
    }
  }
  // [n] thousand/mille [0–999]: `ten thousand`, `dix mille`, `mille cinq cents`.
  if (THOUSAND.has(words[i + length] ?? '') && value < 1000) {
    let j = i + length + 1
    if ((words[j] === 'and' || words[j] === 'et') && below100(words, j + 1) !== undefined) j++
    const rest = /^\d+$/.test(words[j] ?? '') ? undefined : readNumber(words, j)
    const more = rest !== undefined && !rest.percent && rest.value < 1000 ? rest : undefined
    value = value * 1000 + (more?.value ?? 0)
    length = j - i + (more?.length ?? 0)
  }
  const after = i + length
  const a = words[after]
  if (a === '%' || a === 'percent' || a === 'pourcent' || a === 'pct') return { value, length: length + 1, percent: true }
  if ((a === 'pour' || a === 'per') && (words[after + 1] === 'cent' || words[after + 1] === 'cents')) return { value, length: length + 2, percent: true }
  return { value, length, percent: false }
}
