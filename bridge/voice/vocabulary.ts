/**
 * The home's words: device names, rooms with their aliases, kind words and "all" words, in one token trie, so that
 * tagging an utterance costs O(words × longest phrase) whatever the size of the home (10,000 devices or 10). The
 * bridge keeps it current as devices join and leave (`addDevice` / `removeDevice` are reference-counted: two
 * devices may share a name, in different homes or by mistake).
 */
import type { Room } from '../../core/rooms.ts'
import { ALL_WORDS, KIND_WORDS } from './lexicon.ts'
import { words } from './text.ts'

export type EntityType = 'device' | 'room' | 'kind' | 'all'

export interface VocabularyEntry {
  readonly type: EntityType
  /** Canonical value: the device's name, the room id, the kind, or `all`. */
  readonly value: string
}

interface Node {
  children: Map<string, Node> | undefined
  /** Entries ending at this node, by type; a device name beats a room or kind of the same length. */
  entries: Map<string, { entry: VocabularyEntry; refs: number }> | undefined
}

const TYPE_RANK: Readonly<Record<EntityType, number>> = { device: 0, room: 1, kind: 2, all: 3 }

export interface Match { entry: VocabularyEntry; length: number }

export class Vocabulary {
  private readonly root: Node = { children: undefined, entries: undefined }
  private readonly roomIds = new Set<string>()

  constructor (rooms: readonly Room[] = []) {
    for (const [kind, list] of Object.entries(KIND_WORDS)) for (const w of list) this.add(w, { type: 'kind', value: kind })
    for (const w of ALL_WORDS) this.add(w, { type: 'all', value: 'all' })
    for (const r of rooms) this.addRoom(r)
  }

  /** A room, by its id and every name it has in any language (core/rooms.ts). */
  addRoom (room: Room): void {
    this.roomIds.add(room.id)
    for (const name of [room.id, ...Object.values(room.names).flat()]) this.add(name, { type: 'room', value: room.id })
  }

  hasRoom (id: string): boolean { return this.roomIds.has(id) }

  /** A device's name (`kitchen speaker`); counted, so the same name added twice needs two removes. */
  addDevice (name: string): void { this.add(name, { type: 'device', value: name }) }

  removeDevice (name: string): void { this.remove(name, 'device') }

  private add (phrase: string, entry: VocabularyEntry): void {
    const ws = words(phrase)
    if (ws.length === 0) return
    let node = this.root
    for (const w of ws) {
      node.children ??= new Map()
      let next = node.children.get(w)
      if (next === undefined) { next = { children: undefined, entries: undefined }; node.children.set(w, next) }
      node = next
    }
    node.entries ??= new Map()
    const key = `${entry.type}\u0000${entry.value}`
    const have = node.entries.get(key)
    if (have === undefined) node.entries.set(key, { entry, refs: 1 })
    else have.refs++
  }

  private remove (phrase: string, type: EntityType): void {
    const ws = words(phrase)
    let node: Node | undefined = this.root
    for (const w of ws) node = node?.children?.get(w)
    if (node?.entries === undefined) return
    const key = `${type}\u0000${phrase}`
    const have = node.entries.get(key)
    if (have === undefined) return
    if (--have.refs === 0) node.entries.delete(key)
  }

  /** The longest phrase of the home starting at `tokens[i]`, or undefined. */
  longest (tokens: readonly string[], i: number): Match | undefined {
    let node: Node | undefined = this.root
    let best: Match | undefined
    for (let j = i; j < tokens.length; j++) {
      node = node.children?.get(tokens[j] as string)
      if (node === undefined) break
      if (node.entries !== undefined && node.entries.size > 0) {
        let top: VocabularyEntry | undefined
        for (const { entry } of node.entries.values()) if (top === undefined || TYPE_RANK[entry.type] < TYPE_RANK[top.type]) top = entry
        if (top !== undefined) best = { entry: top, length: j - i + 1 }
      }
    }
    return best
  }
}
