/**
 * Target conditions: the query a deployment narrows its group with, in IoT Hub's query syntax over a device twin,
 * e.g. `tags.room = 'kitchen' AND properties.reported.firmware < '2.1.0'`.
 *
 * Grammar (keywords in any case):
 *   expr       := and (OR and)*
 *   and        := unary (AND unary)*
 *   unary      := NOT unary | '(' expr ')' | comparison
 *   comparison := path op literal | path IS_DEFINED | path IN '(' literal (',' literal)* ')'
 *   op         := = | != | <> | < | <= | > | >=
 *   literal    := 'text' (a quote doubled inside) | number | true | false | null
 *   path       := deviceId | tags.NAME… | properties.reported.NAME…
 *
 * Comparisons of two version-like strings (`1.4.2`, `2.1.0-beta.1`) are by semantic version, so `'1.10.0' > '1.9.0'`;
 * other strings compare as text, numbers as numbers. A path that does not exist compares false (as in IoT Hub).
 */
import { FleetError } from '../../core/errors.ts'

/** What a condition is evaluated against: a device's id, tags and reported twin. */
export interface ConditionSubject {
  readonly deviceId: string
  readonly tags: Readonly<Record<string, unknown>>
  readonly reported: Readonly<Record<string, unknown>>
}

type Literal = string | number | boolean | null
type Node =
  | { op: 'and' | 'or'; left: Node; right: Node }
  | { op: 'not'; arg: Node }
  | { op: 'cmp'; cmp: '=' | '!=' | '<' | '<=' | '>' | '>='; path: string[]; value: Literal }
  | { op: 'in'; path: string[]; values: Literal[] }
  | { op: 'defined'; path: string[] }

export type Condition = (subject: ConditionSubject) => boolean

const VERSION_RE = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/

/**
 * Compare two version strings by semantic version precedence (missing parts are 0, a pre-release sorts before its
 * release); `undefined` when either is not version-like.
 */
export function compareVersions (a: string, b: string): number | undefined {
  const ma = VERSION_RE.exec(a)
  const mb = VERSION_RE.exec(b)
  if (ma === null || mb === null) return undefined
  const pa = (ma[1] as string).split('.').map(Number)
  const pb = (mb[1] as string).split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  const ra = ma[2]
  const rb = mb[2]
  if (ra === rb) return 0
  if (ra === undefined) return 1
  if (rb === undefined) return -1
  const xa = ra.split('.')
  const xb = rb.split('.')
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const x = xa[i]
    const y = xb[i]
    if (x === undefined) return -1
    if (y === undefined) return 1
    if (x === y) continue
    const nx = /^\d+$/.test(x) ? Number(x) : undefined
    const ny = /^\d+$/.test(y) ? Number(y) : undefined
    if (nx !== undefined && ny !== undefined) return Math.sign(nx - ny)
    if (nx !== undefined) return -1
    if (ny !== undefined) return 1
    return x < y ? -1 : 1
  }
  return 0
}

interface Token { kind: 'word' | 'string' | 'number' | 'punct'; text: string; at: number }

function tokenize (src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const ch = src[i] as string
    if (/\s/.test(ch)) { i++; continue }
    if (ch === "'" || ch === '"') {
      let j = i + 1
      let text = ''
      for (;;) {
        if (j >= src.length) throw bad(src, i, 'a quoted text is not closed')
        if (src[j] === ch) {
          if (src[j + 1] === ch) { text += ch; j += 2; continue }
          break
        }
        text += src[j]
        j++
      }
      out.push({ kind: 'string', text, at: i })
      i = j + 1
      continue
    }
    const num = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(src.slice(i))
    if (num !== null && !/^[\w.]/.test(src.slice(i + num[0].length))) { out.push({ kind: 'number', text: num[0], at: i }); i += num[0].length; continue }
    const word = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$-]*)*/.exec(src.slice(i))
    if (word !== null) { out.push({ kind: 'word', text: word[0], at: i }); i += word[0].length; continue }
    const punct = /^(?:<=|>=|!=|<>|=|<|>|\(|\)|,)/.exec(src.slice(i))
    if (punct !== null) { out.push({ kind: 'punct', text: punct[0], at: i }); i += punct[0].length; continue }
    throw bad(src, i, `unexpected ${JSON.stringify(ch)}`)
  }
  return out
}

function bad (src: string, at: number, message: string): FleetError {
  return new FleetError('FLEET_ERR_ROLLOUT_INVALID', `target condition: ${message} at column ${at + 1}: ${src}`)
}

/** Parse a target condition; throws FLEET_ERR_ROLLOUT_INVALID naming the column of the problem. */
export function parseCondition (src: string): Condition {
  const tokens = tokenize(src)
  let pos = 0
  const peek = (): Token | undefined => tokens[pos]
  const isWord = (t: Token | undefined, w: string): boolean => t?.kind === 'word' && t.text.toUpperCase() === w
  const expectPunct = (p: string): void => {
    const t = peek()
    if (t?.kind !== 'punct' || t.text !== p) throw bad(src, t?.at ?? src.length, `expected "${p}"`)
    pos++
  }

  const literal = (): Literal => {
    const t = peek()
    if (t === undefined) throw bad(src, src.length, 'expected a value')
    pos++
    if (t.kind === 'string') return t.text
    if (t.kind === 'number') return Number(t.text)
    if (isWord(t, 'TRUE')) return true
    if (isWord(t, 'FALSE')) return false
    if (isWord(t, 'NULL')) return null
    throw bad(src, t.at, `expected a value ('text', a number, true, false or null), got ${JSON.stringify(t.text)}`)
  }

  const path = (t: Token): string[] => {
    const parts = t.text.split('.')
    const [root] = parts
    if (root === 'deviceId' && parts.length === 1) return parts
    if (root === 'tags' && parts.length >= 2) return parts
    if (root === 'properties' && parts[1] === 'reported' && parts.length >= 3) return parts
    throw bad(src, t.at, `${JSON.stringify(t.text)} is not deviceId, tags.NAME or properties.reported.NAME`)
  }

  const unary = (): Node => {
    const t = peek()
    if (t === undefined) throw bad(src, src.length, 'expected a comparison')
    if (isWord(t, 'NOT')) { pos++; return { op: 'not', arg: unary() } }
    if (t.kind === 'punct' && t.text === '(') { pos++; const e = expr(); expectPunct(')'); return e }
    if (t.kind !== 'word') throw bad(src, t.at, `expected a property path, got ${JSON.stringify(t.text)}`)
    pos++
    const p = path(t)
    const o = peek()
    if (isWord(o, 'IS_DEFINED')) { pos++; return { op: 'defined', path: p } }
    if (isWord(o, 'IN')) {
      pos++
      expectPunct('(')
      const values = [literal()]
      while (peek()?.text === ',') { pos++; values.push(literal()) }
      expectPunct(')')
      return { op: 'in', path: p, values }
    }
    if (o?.kind !== 'punct' || ['(', ')', ','].includes(o.text)) throw bad(src, o?.at ?? src.length, 'expected a comparison operator (= != <> < <= > >= IN IS_DEFINED)')
    pos++
    const cmp = (o.text === '<>' ? '!=' : o.text) as '=' | '!=' | '<' | '<=' | '>' | '>='
    return { op: 'cmp', cmp, path: p, value: literal() }
  }
  const and = (): Node => {
    let left = unary()
    while (isWord(peek(), 'AND')) { pos++; left = { op: 'and', left, right: unary() } }
    return left
  }
  const expr = (): Node => {
    let left = and()
    while (isWord(peek(), 'OR')) { pos++; left = { op: 'or', left, right: and() } }
    return left
  }

  if (tokens.length === 0) throw bad(src, 0, 'is empty')
  const tree = expr()
  const rest = peek()
  if (rest !== undefined) throw bad(src, rest.at, `unexpected ${JSON.stringify(rest.text)}`)
  return (subject) => evaluate(tree, subject)
}

function lookup (path: readonly string[], s: ConditionSubject): unknown {
  if (path[0] === 'deviceId') return s.deviceId
  let v: unknown = path[0] === 'tags' ? s.tags : s.reported
  for (const key of path.slice(path[0] === 'tags' ? 1 : 2)) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

function compare (a: unknown, b: Literal): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b)
  if (typeof a === 'string' && typeof b === 'string') return compareVersions(a, b) ?? (a < b ? -1 : a > b ? 1 : 0)
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : undefined
  if (a === null && b === null) return 0
  return undefined
}

function evaluate (n: Node, s: ConditionSubject): boolean {
  switch (n.op) {
    case 'and': return evaluate(n.left, s) && evaluate(n.right, s)
    case 'or': return evaluate(n.left, s) || evaluate(n.right, s)
    case 'not': return !evaluate(n.arg, s)
    case 'defined': return lookup(n.path, s) !== undefined
    case 'in': { const v = lookup(n.path, s); return n.values.some((x) => compare(v, x) === 0) }
    case 'cmp': {
      const v = lookup(n.path, s)
      if (v === undefined) return false
      const c = compare(v, n.value)
      if (c === undefined) return n.cmp === '!='
      switch (n.cmp) {
        case '=': return c === 0
        case '!=': return c !== 0
        case '<': return c < 0
        case '<=': return c <= 0
        case '>': return c > 0
        case '>=': return c >= 0
      }
    }
  }
}
