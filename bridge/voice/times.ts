/**
 * Clock times as people say them, in English and French, read to `HH:MM` (24-hour):
 * `6:30`, `6:30 am`, `7 pm`, `seven pm`, `six o'clock`, `half past six`, `quarter to eight`, `ten past seven`,
 * `10 to 6`, `noon`, `midnight`; `6h30`, `21h`, `19 heures`, `7 heures et quart`, `7 heures et demie`,
 * `8 heures moins le quart`, `6 heures 45`, `sept heures du soir`, `midi`, `minuit`.
 *
 * A bare number (`at seven`) is not a time here: only the alarm grammar may read it as one (see recognizer.ts), so
 * `set the volume to 7` never becomes 07:00.
 */
import { readNumber } from './numbers.ts'

export interface TimeMatch { hh: number; mm: number; length: number }

const pad = (n: number): string => String(n).padStart(2, '0')

/** `HH:MM` of a time match. */
export function formatTime (t: { hh: number; mm: number }): string {
  return `${pad(t.hh)}:${pad(t.mm)}`
}

function hourAt (words: readonly string[], i: number): { value: number; length: number } | undefined {
  const n = readNumber(words, i)
  if (n === undefined || n.percent || n.value > 24) return undefined
  return n
}

/** am/pm after a time: `am`, `a m`, `pm`, `in the morning`, `tonight`, `du matin`, `du soir`, `de l'après-midi`. */
function meridiem (words: readonly string[], i: number): { pm: boolean; length: number } | undefined {
  const w = words[i]
  const n = words[i + 1]
  if (w === 'am') return { pm: false, length: 1 }
  if (w === 'pm') return { pm: true, length: 1 }
  if (w === 'a' && n === 'm') return { pm: false, length: 2 }
  if (w === 'p' && n === 'm') return { pm: true, length: 2 }
  if (w === 'in' && n === 'the' && words[i + 2] === 'morning') return { pm: false, length: 3 }
  if (w === 'in' && n === 'the' && (words[i + 2] === 'evening' || words[i + 2] === 'afternoon')) return { pm: true, length: 3 }
  if (w === 'tonight' || (w === 'at' && n === 'night')) return { pm: true, length: w === 'tonight' ? 1 : 2 }
  if (w === 'du' && n === 'matin') return { pm: false, length: 2 }
  if (w === 'du' && n === 'soir') return { pm: true, length: 2 }
  if (w === 'de' && n === 'l' && words[i + 2] === 'apres' && words[i + 3] === 'midi') return { pm: true, length: 4 }
  if (w === 'de' && n === 'l' && words[i + 2] === 'aprem') return { pm: true, length: 3 }
  return undefined
}

function withMeridiem (words: readonly string[], hh: number, mm: number, i: number, length: number): TimeMatch | undefined {
  const m = meridiem(words, i + length)
  if (m === undefined) return hh < 24 && mm < 60 ? { hh: hh % 24, mm, length } : undefined
  if (hh < 1 || hh > 12) return hh < 24 && mm < 60 ? { hh, mm, length: length + m.length } : undefined
  return { hh: m.pm ? (hh % 12) + 12 : hh % 12, mm, length: length + m.length }
}

/** Read a clock time at `words[i]`, or undefined. */
export function readTime (words: readonly string[], i: number): TimeMatch | undefined {
  const w = words[i]
  if (w === undefined) return undefined
  if (w === 'noon' || w === 'midday' || w === 'midi') return { hh: 12, mm: 0, length: 1 }
  if (w === 'midnight' || w === 'minuit') return { hh: 0, mm: 0, length: 1 }

  // One-word times: 6:30, 6h30, 21h.
  const one = /^(\d{1,2})[:h](\d{2})?$/.exec(w)
  if (one !== null) return withMeridiem(words, Number(one[1]), Number(one[2] ?? '0'), i, 1)

  // half past six, quarter past/to seven, ten past six, 10 to 6
  let minutes: number | undefined
  let j = i
  if (w === 'half') { minutes = 30; j++ } else if (w === 'quarter' || (w === 'a' && words[i + 1] === 'quarter')) {
    minutes = 15; j += w === 'a' ? 2 : 1
  } else {
    const n = readNumber(words, i)
    if (n !== undefined && !n.percent && n.value > 0 && n.value < 60 && (words[i + n.length] === 'past' || words[i + n.length] === 'to' || words[i + n.length] === 'after' || words[i + n.length] === 'till')) {
      minutes = n.value; j += n.length
      if (words[j] === 'minutes') j++
    }
  }
  if (minutes !== undefined) {
    const rel = words[j]
    if (rel === 'past' || rel === 'after' || rel === 'to' || rel === 'till') {
      const h = hourAt(words, j + 1)
      if (h !== undefined && h.value <= 12) {
        const len = j + 1 + h.length - i
        if (rel === 'past' || rel === 'after') return withMeridiem(words, h.value, minutes, i, len)
        // `quarter to one` is 12:45 (a 12-hour clock has no hour 0).
        return withMeridiem(words, h.value <= 1 ? 12 : h.value - 1, 60 - minutes, i, len)
      }
    }
    return undefined
  }

  const h = hourAt(words, i)
  if (h === undefined) return undefined
  let k = i + h.length
  // six o'clock
  if (words[k] === 'o' && words[k + 1] === 'clock') return withMeridiem(words, h.value, 0, i, k + 2 - i)
  // 7 pm, seven am
  const m = meridiem(words, k)
  if (m !== undefined && (words[k] === 'am' || words[k] === 'pm' || words[k + 1] === 'm')) return withMeridiem(words, h.value, 0, i, k - i)
  // 19 heures [30 | et quart | et demie | moins le quart | moins dix] [du soir]
  if (words[k] === 'heure' || words[k] === 'heures' || words[k] === 'h') {
    k++
    let mm = 0
    if (words[k] === 'et' && words[k + 1] === 'quart') { mm = 15; k += 2 } else if (words[k] === 'et' && (words[k + 1] === 'demie' || words[k + 1] === 'demi')) {
      mm = 30; k += 2
    } else if (words[k] === 'moins') {
      const le = words[k + 1] === 'le' ? 1 : 0
      if (words[k + 1 + le] === 'quart') { mm = -15; k += 2 + le } else {
        const n = readNumber(words, k + 1)
        if (n !== undefined && !n.percent && n.value > 0 && n.value < 60) { mm = -n.value; k += 1 + n.length }
      }
    } else {
      const n = readNumber(words, k)
      if (n !== undefined && !n.percent && n.value < 60) { mm = n.value; k += n.length; if (words[k] === 'minutes') k++ }
    }
    const total = (h.value * 60 + mm + 24 * 60) % (24 * 60)
    return withMeridiem(words, Math.floor(total / 60), total % 60, i, k - i)
  }
  return undefined
}
