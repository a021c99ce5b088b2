/**
 * Topic filters in a trie, matched against a topic name level by level: the broker's subscription table.
 *
 * Matching follows MQTT 3.1.1 §4.7: `+` matches exactly one level, including an empty one ([MQTT-4.7.1-3]: `a/+`
 * matches `a/`); `#` matches the parent level and any number of levels below it ([MQTT-4.7.1-2]: `a/#` matches `a`).
 * Topics starting with `$` are not matched by a leading wildcard [MQTT-4.7.2-1]; aedes applies that rule itself, in
 * the listener it registers for such filters, so the trie does not repeat it.
 */

interface Node<T> {
  children: Map<string, Node<T>> | undefined
  /** Values subscribed with a filter ending exactly here. */
  values: T[] | undefined
  /** The `+` child, kept apart so a match does not look it up by name on every level. */
  one: Node<T> | undefined
  /** Values subscribed with a filter ending in `#` at this level. */
  some: T[] | undefined
}

const newNode = <T>(): Node<T> => ({ children: undefined, values: undefined, one: undefined, some: undefined })

export class SubscriptionTrie<T> {
  private readonly root: Node<T> = newNode()
  private count = 0

  /** Subscriptions held (a value added twice under one filter counts twice). */
  get size (): number { return this.count }

  add (filter: string, value: T): void {
    const levels = filter.split('/')
    let node = this.root
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i] as string
      if (level === '#') {
        (node.some ??= []).push(value)
        this.count++
        return
      }
      if (level === '+') {
        node = node.one ??= newNode()
        continue
      }
      node.children ??= new Map()
      let next = node.children.get(level)
      if (next === undefined) { next = newNode(); node.children.set(level, next) }
      node = next
    }
    (node.values ??= []).push(value)
    this.count++
  }

  /** Remove one occurrence of `value` under `filter`; false if it was not there. Empty branches are pruned. */
  remove (filter: string, value: T): boolean {
    const levels = filter.split('/')
    const path: Array<Node<T>> = [this.root]
    let node: Node<T> | undefined = this.root
    let list: T[] | undefined
    for (let i = 0; i < levels.length && node !== undefined; i++) {
      const level = levels[i] as string
      if (level === '#') { list = node.some; break }
      node = level === '+' ? node.one : node.children?.get(level)
      if (node !== undefined) path.push(node)
      if (i === levels.length - 1) list = node?.values
    }
    if (list === undefined) return false
    const at = list.indexOf(value)
    if (at === -1) return false
    list.splice(at, 1)
    this.count--
    this.prune(path, levels)
    return true
  }

  /** Every value whose filter matches the topic name `topic`, appended to `out` (one entry per subscription). */
  match (topic: string, out: T[] = []): T[] {
    matchLevels(this.root, topic.split('/'), 0, out)
    return out
  }

  private prune (path: Array<Node<T>>, levels: string[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i] as Node<T>
      if (!isEmpty(node)) return
      const parent = path[i - 1] as Node<T>
      const level = levels[i - 1] as string
      if (level === '+') parent.one = undefined
      else parent.children?.delete(level)
    }
  }
}

function isEmpty<T> (node: Node<T>): boolean {
  return (node.values === undefined || node.values.length === 0) && (node.some === undefined || node.some.length === 0) &&
    node.one === undefined && (node.children === undefined || node.children.size === 0)
}

function pushAll<T> (from: T[], out: T[]): void {
  for (let i = 0; i < from.length; i++) out.push(from[i] as T)
}

function matchLevels<T> (node: Node<T>, levels: string[], i: number, out: T[]): void {
  // `#` here matches this level and everything under it, including the parent itself [MQTT-4.7.1-2].
  if (node.some !== undefined) pushAll(node.some, out)
  if (i === levels.length) {
    if (node.values !== undefined) pushAll(node.values, out)
    return
  }
  const exact = node.children?.get(levels[i] as string)
  if (exact !== undefined) matchLevels(exact, levels, i + 1, out)
  if (node.one !== undefined) matchLevels(node.one, levels, i + 1, out)
}
