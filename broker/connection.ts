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
import type { Client } from 'aedes'
import { ByteQueue } from './byte-queue.ts'

/** The fields of aedes' Client that are trimmed. */
interface ClientInternals {
  _eos?: unknown
  _parser?: { _list?: { length?: unknown; consume?: unknown } }
  duplicates?: unknown
  _inboundInflight?: unknown
}

function noop (): void {}

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
  if (parser?._list !== undefined && parser._list.length === 0 && typeof parser._list.consume === 'function') {
    parser._list = new ByteQueue()
  }
  if (c._inboundInflight instanceof Set && c._inboundInflight.size === 0) c._inboundInflight = new LazyIdSet()
  // aedes' per-client de-duplication counters, keyed by broker id (almost always one key, the same for every client):
  // an object with a null prototype, as aedes makes, but in V8's fast mode (Object.create(null) starts as a
  // dictionary of about 170 bytes).
  if (isEmptyDictionary(c.duplicates)) c.duplicates = Object.setPrototypeOf({}, null) as Record<string, number>
  if (typeof c._eos === 'function') {
    // finished() returns its cleanup: it removes the watcher's listeners. aedes' close() calls _eos once more.
    ;(c._eos as () => void)()
    c._eos = noop
  }
}

function isEmptyDictionary (o: unknown): boolean {
  if (typeof o !== 'object' || o === null || Object.getPrototypeOf(o) !== null) return false
  for (const _ in o) return false
  return true
}
