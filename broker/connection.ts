/**
 * What an idle connection costs: aedes gives every connection a `Client` with an MQTT parser, closures and stream
 * watchers. Some of those parts are replaced here, right after `aedes.handle()`, with cheaper ones that do the same job:
 *
 * - the parser's input list: mqtt-packet's parser keeps its unparsed bytes in a `BufferListStream`, a Duplex stream of
 *   which it uses only the list; a {@link ByteQueue} is that list alone (about 700 bytes less per connection, and no
 *   Buffer view made per byte it reads);
 * - aedes' end-of-stream watcher (`finished(conn, close)`: seven closures and a context per connection) is detached;
 *   the broker's one `close` listener, shared by every connection, closes the client instead (see broker.ts). The
 *   other ways a connection ends stay aedes' own: `end` and `error` listeners close the client as before;
 * - the set of inbound QoS 2 message ids is made on first use, and the de-duplication counters are a fast-mode object
 *   (see {@link LazyIdSet} and below).
 *
 * Both reach into aedes 1.x and mqtt-packet 9 internals (lib/client.js, parser.js); each step checks the shape it
 * expects and leaves the client untouched when it differs, so an upgrade that changes them costs memory, not
 * correctness.
 */
import { createRequire } from 'node:module'
import type { Server } from 'node:net'
import type { Client } from 'aedes'
import { ByteQueue } from './byte-queue.ts'

/** An EventEmitter's listener table and the calls the trims use. */
interface Emitter {
  _events?: unknown
  listeners (event: string): Array<(...args: never[]) => unknown>
  removeListener (event: string, listener: (...args: never[]) => unknown): unknown
  on (event: string, listener: (...args: never[]) => unknown): unknown
}

/** The fields of aedes' Client that are trimmed. */
interface ClientInternals extends Emitter {
  _eos?: unknown
  _parser?: Emitter & { client?: unknown; _list?: { length?: unknown; consume?: unknown } }
  conn?: Emitter & { client?: unknown }
  duplicates?: unknown
  subscriptions?: unknown
  _inboundInflight?: unknown
}

function noop (): void {}

/** mqtt-packet's module object, the one aedes calls `parser()` on, and its Parser and Packet classes. */
interface ParserModule { parser: (opt?: unknown) => object }
type ParserClass = new () => object & Record<string, unknown>
const load = createRequire(import.meta.url)
const mqttPacket = load('mqtt-packet') as ParserModule
const Parser = load('mqtt-packet/parser.js') as ParserClass
const Packet = load('mqtt-packet/packet.js') as new () => object

/** mqtt-packet's parser states, read-only: shared by every lean parser instead of an array each. */
let sharedStates: readonly string[] | undefined

/**
 * A parser as `mqtt-packet.parser()` makes it, but with a {@link ByteQueue} for its input list from the start, so no
 * `BufferListStream` (a Duplex stream, made and thrown away for every connection) is built, and its state list shared.
 * Checked once against a parser made by mqtt-packet: undefined when their fields differ.
 */
const leanParser: (() => object) | undefined = (() => {
  const reference = mqttPacket.parser() as Record<string, unknown>
  const states = reference._states
  if (!Array.isArray(states) || !states.every((x) => typeof x === 'string')) return undefined
  sharedStates = Object.freeze([...states] as string[])
  const make = (): object => {
    const p = new Parser()
    p.settings = {}
    p._states = sharedStates
    p.packet = new Packet()
    p.error = null
    p._list = new ByteQueue()
    p._stateCounter = 0
    return p
  }
  const sample = make() as Record<string, unknown>
  const keys = (o: object): string => Object.keys(o).sort().join(',')
  if (keys(sample) !== keys(reference) || Object.getPrototypeOf(sample) !== Object.getPrototypeOf(reference)) return undefined
  return make
})()

/**
 * Run `handle` (aedes' `handle(stream)`, which makes the connection's Client and its parser) with mqtt-packet's
 * `parser()` making lean parsers. The swap lasts only for that synchronous call, so nothing else sees it.
 */
export function withLeanParser<T> (handle: () => T): T {
  if (leanParser === undefined) return handle()
  const original = mqttPacket.parser
  mqttPacket.parser = leanParser
  try {
    return handle()
  } finally {
    mqttPacket.parser = original
  }
}

/**
 * The message ids of a client's inbound QoS 2 messages awaiting PUBREL (aedes' `_inboundInflight`): a Set made on
 * the first QoS 2 PUBLISH, since most connections never send one (an empty Set costs about 180 bytes).
 */
class LazyIdSet {
  private set: Set<number> | undefined = undefined
  get size (): number { return this.set === undefined ? 0 : this.set.size }
  has (id: number): boolean { return this.set !== undefined && this.set.has(id) }
  add (id: number): this { (this.set ??= new Set()).add(id); return this }
  delete (id: number): boolean { return this.set !== undefined && this.set.delete(id) }
  clear (): void { this.set = undefined }
}

/** Trim a client aedes has just made for a new connection (before any byte of it was parsed). */
export function trimConnection (client: Client): void {
  const c = client as unknown as ClientInternals
  const parser = c._parser
  if (parser?._list !== undefined && !(parser._list instanceof ByteQueue) && parser._list.length === 0 && typeof parser._list.consume === 'function') {
    parser._list = new ByteQueue()
  }
  if (c._inboundInflight instanceof Set && c._inboundInflight.size === 0) c._inboundInflight = new LazyIdSet()
  // aedes' per-client de-duplication counters, keyed by broker id (almost always one key, the same for every client):
  // an object with a null prototype, as aedes makes, but in V8's fast mode (Object.create(null) starts as a
  // dictionary of about 170 bytes).
  if (isEmptyDictionary(c.duplicates)) c.duplicates = Object.setPrototypeOf({}, null) as Record<string, number>
  // The client's subscriptions by filter, likewise: most connections of a fleet hold one or two filters, many none.
  // (Each distinct filter then makes V8 a hidden class, about the size of the dictionary's entry; past V8's limit of
  // transitions, each object gets a class of its own: about 20 bytes more than a dictionary for a client with two.)
  if (isEmptyDictionary(c.subscriptions)) c.subscriptions = Object.setPrototypeOf({}, null) as Record<string, unknown>
  if (typeof c._eos === 'function') {
    // finished() returns its cleanup: it removes the watcher's listeners. aedes' close() calls _eos once more.
    ;(c._eos as () => void)()
    c._eos = noop
  }
  // aedes binds a function per connection for each of these; one shared function each does the same through
  // `conn.client` and `parser.client`, which aedes sets.
  const conn = c.conn
  if (conn !== undefined && conn.client === client) {
    replaceBound(conn, 'error', 'bound emit', forwardConnError)
    replaceBound(conn, 'end', 'bound close', closeOnEnd)
  }
  if (parser !== undefined && parser.client === client) replaceBound(parser, 'error', 'bound emit', forwardParserError)
  // Listener tables in V8's fast mode: Node starts each as `{ __proto__: null }`, a dictionary of about 170 bytes.
  // The client's `connected` listener (made once, removed at CONNACK) goes last, so its removal keeps the table fast.
  fastTable(c, 'connected')
  if (parser !== undefined) fastTable(parser, undefined)
  if (conn !== undefined) fastTable(conn, undefined)
}

function forwardConnError (this: { client: { emit: (event: string, err: unknown) => boolean } }, err: unknown): void { this.client.emit('error', err) }
function forwardParserError (this: { client: { emit: (event: string, err: unknown) => boolean } }, err: unknown): void { this.client.emit('error', err) }
function closeOnEnd (this: { client: { close: () => void } }): void { this.client.close() }

/** Replace the one listener of `event` named `name` (a function bound per connection) with a shared one. */
function replaceBound (emitter: Emitter, event: string, name: string, shared: (...args: never[]) => unknown): void {
  const bound = emitter.listeners(event).filter((l) => l.name === name)
  if (bound.length !== 1) return
  emitter.removeListener(event, bound[0] as (...args: never[]) => unknown)
  emitter.on(event, shared)
}

/**
 * Copy an emitter's listener table into an object with a null prototype in V8's fast mode (same keys, same values,
 * `last` copied last). EventEmitter only reads, assigns and deletes its keys, so any such object serves; a delete of
 * a key other than the last sends it back to dictionary mode, where it started.
 */
function fastTable (emitter: Emitter, last: string | undefined): void {
  const events = emitter._events
  if (!isDictionary(events)) return
  const table = Object.setPrototypeOf({}, null) as Record<string, unknown>
  for (const k of Object.keys(events)) if (k !== last) table[k] = events[k]
  if (last !== undefined && last in events) table[last] = events[last]
  emitter._events = table
}

function isDictionary (o: unknown): o is Record<string, unknown> {
  return typeof o === 'object' && o !== null && Object.getPrototypeOf(o) === null
}

function isEmptyDictionary (o: unknown): boolean {
  if (typeof o !== 'object' || o === null || Object.getPrototypeOf(o) !== null) return false
  for (const _ in o) return false
  return true
}

/**
 * Set TCP_NODELAY on a listening socket for the connections it accepts to inherit: Linux clones each accepted socket
 * from its listener, options included, which saves a `setsockopt` call per connection (about a twentieth of what a
 * connect storm costs the broker). True when set on Linux; false elsewhere, or when the listener's handle is not the
 * shape expected (libuv's TCP handle, which has `setNoDelay`): the caller then sets it on each socket.
 */
export function listenerNoDelay (server: Server): boolean {
  if (process.platform !== 'linux') return false
  const handle = (server as unknown as { _handle?: { setNoDelay?: (enable: boolean) => number } | null })._handle
  if (typeof handle?.setNoDelay !== 'function') return false
  return handle.setNoDelay(true) === 0
}
