/**
 * A topic trie over the broker's retained messages.
 *
 * aedes-persistence 11 (memory) answers every SUBSCRIBE by testing every retained message against the filter.
 * A HomeFleet device keeps three retained topics (status, info, reported) and subscribes to its own commands
 * (`{p}/{id}/commands/+/+`) and desired state, so bringing up N devices cost O(N²): 10,000 in-process devices took
 * over two minutes, most of it in that scan. Here a filter walks a trie level by level, visiting only the branches
 * it can match, so a device's subscribe costs O(its topic depth) whatever the fleet size.
 */
import { Readable } from 'node:stream'

interface RetainedPacket { topic: string; payload: Buffer | string }

/** The slice of aedes' persistence interface this wraps (the callback-style memory persistence). */
export interface RetainedPersistence {
  storeRetained (packet: RetainedPacket, cb?: (err: Error | null) => void): unknown
  createRetainedStreamCombi (patterns: string[]): Readable
  createRetainedStream (pattern: string): Readable
}

interface Node { children: Map<string, Node> | undefined; packet: RetainedPacket | undefined }

const newNode = (): Node => ({ children: undefined, packet: undefined })

export class RetainedTrie {
  private readonly root = newNode()
  private count = 0

  get size (): number { return this.count }

  set (packet: RetainedPacket): void {
    let node = this.root
    for (const level of packet.topic.split('/')) {
      node.children ??= new Map()
      let next = node.children.get(level)
      if (next === undefined) { next = newNode(); node.children.set(level, next) }
      node = next
    }
    if (node.packet === undefined) this.count++
    node.packet = packet
  }

  delete (topic: string): void {
    const path: Array<[Node, string]> = []
    let node: Node | undefined = this.root
    for (const level of topic.split('/')) {
      const next: Node | undefined = node.children?.get(level)
      if (next === undefined) return
      path.push([node, level])
      node = next
    }
    if (node.packet === undefined) return
    node.packet = undefined
    this.count--
    // Prune empty branches so a churning fleet does not leave a trail of dead nodes.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i] as [Node, string]
      const child = parent.children?.get(level)
      if (child === undefined || child.packet !== undefined || (child.children?.size ?? 0) > 0) break
      parent.children?.delete(level)
    }
  }

  /** Every retained packet whose topic matches `filter` ([MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.2-1]). */
  match (filter: string, out: RetainedPacket[] = []): RetainedPacket[] {
    walk(this.root, filter.split('/'), 0, out, true)
    return out
  }
}

function walk (node: Node, levels: string[], i: number, out: RetainedPacket[], top: boolean): void {
  if (i === levels.length) {
    if (node.packet !== undefined) out.push(node.packet)
    return
  }
  const level = levels[i] as string
  if (level === '#') {
    // `a/#` also matches `a` itself [MQTT-4.7.1-2].
    if (node.packet !== undefined) out.push(node.packet)
    collect(node, out, top)
    return
  }
  if (node.children === undefined) return
  if (level === '+') {
    for (const [name, child] of node.children) {
      // Topics starting with $ are not matched by a leading wildcard [MQTT-4.7.2-1].
      if (top && name.startsWith('$')) continue
      walk(child, levels, i + 1, out, false)
    }
    return
  }
  const child = node.children.get(level)
  if (child !== undefined) walk(child, levels, i + 1, out, false)
}

function collect (node: Node, out: RetainedPacket[], top: boolean): void {
  if (node.children === undefined) return
  for (const [name, child] of node.children) {
    if (top && name.startsWith('$')) continue
    if (child.packet !== undefined) out.push(child.packet)
    collect(child, out, false)
  }
}

/** Answer retained look-ups from a {@link RetainedTrie}; stores still reach the wrapped persistence too. */
export function indexRetained<P extends RetainedPersistence> (persistence: P): P {
  const trie = new RetainedTrie()
  const store = persistence.storeRetained.bind(persistence)
  persistence.storeRetained = (packet: RetainedPacket, cb?: (err: Error | null) => void): unknown => {
    // [MQTT-3.3.1-10]: a retained message with an empty payload removes the retained message for that topic.
    if (packet.payload.length === 0) trie.delete(packet.topic)
    else trie.set({ ...packet })
    return store(packet, cb)
  }
  persistence.createRetainedStreamCombi = (patterns: string[]): Readable => {
    const out: RetainedPacket[] = []
    for (const p of patterns) trie.match(p, out)
    return Readable.from(out)
  }
  persistence.createRetainedStream = (pattern: string): Readable => Readable.from(trie.match(pattern))
  return persistence
}
