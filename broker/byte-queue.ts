/**
 * The bytes an MQTT parser has received and not yet consumed: the part of `bl`'s BufferList that mqtt-packet's
 * parser uses (`append`, `consume`, `length`, `readUInt8`/`16BE`/`32BE`, `slice`, `toString`), without the rest.
 *
 * mqtt-packet gives each connection's parser a `BufferListStream`, a full Duplex stream (two stream states, an event
 * table, bound callbacks: about 700 bytes of heap per idle connection) of which it only uses the list, and whose
 * `readUInt8` makes a Buffer view and an offset array per byte read. This queue is one array and three numbers, and
 * reads from the first chunk directly, which is where a packet's header almost always is.
 */
export class ByteQueue {
  /** Total unconsumed bytes. */
  length = 0
  private chunks: Buffer[] = []
  /** Bytes of chunks[0] already consumed. */
  private start = 0

  append (buf: Buffer): this {
    if (buf.length === 0) return this
    this.chunks.push(buf)
    this.length += buf.length
    return this
  }

  consume (bytes: number): this {
    let n = Math.trunc(bytes)
    if (Number.isNaN(n) || n <= 0) return this
    while (n > 0 && this.chunks.length > 0) {
      const first = this.chunks[0] as Buffer
      const available = first.length - this.start
      if (n >= available) {
        n -= available
        this.length -= available
        this.chunks.shift()
        this.start = 0
        // An array that has been pushed to keeps a backing store of 17 slots; an idle connection's queue is empty,
        // so start again from an empty literal (no backing store).
        if (this.chunks.length === 0) this.chunks = []
      } else {
        this.start += n
        this.length -= n
        n = 0
      }
    }
    return this
  }

  /** The byte at `offset`, or undefined past the end (as BufferList's `get`). */
  get (offset: number): number | undefined {
    if (offset < 0 || offset >= this.length) return undefined
    let at = this.start + offset
    for (let i = 0; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Buffer
      if (at < chunk.length) return chunk[at]
      at -= chunk.length
    }
    return undefined
  }

  readUInt8 (offset: number): number {
    const first = this.chunks[0]
    const at = this.start + offset
    if (first !== undefined && offset >= 0 && at < first.length) return first[at] as number
    return this.sliceAcross(offset, offset + 1).readUInt8(0)
  }

  readUInt16BE (offset: number): number {
    const first = this.chunks[0]
    const at = this.start + offset
    if (first !== undefined && offset >= 0 && at + 2 <= first.length) return first.readUInt16BE(at)
    return this.sliceAcross(offset, offset + 2).readUInt16BE(0)
  }

  readUInt32BE (offset: number): number {
    const first = this.chunks[0]
    const at = this.start + offset
    if (first !== undefined && offset >= 0 && at + 4 <= first.length) return first.readUInt32BE(at)
    return this.sliceAcross(offset, offset + 4).readUInt32BE(0)
  }

  /**
   * Bytes [start, end) as one Buffer: a view of the first chunk when they lie in it (as BufferList's), a copy
   * otherwise. Negative positions count from the end; out-of-range ones are clamped, as BufferList does.
   */
  slice (start?: number, end?: number): Buffer {
    let s = start ?? 0
    let e = end ?? this.length
    if (s < 0) s += this.length
    if (e < 0) e += this.length
    return this.sliceAcross(s, e)
  }

  toString (encoding?: BufferEncoding, start?: number, end?: number): string {
    return this.slice(start, end).toString(encoding)
  }

  private sliceAcross (s: number, e: number): Buffer {
    if (s < 0 || Number.isNaN(s)) s = 0
    if (e > this.length || Number.isNaN(e)) e = this.length
    if (s >= this.length || e <= s) return Buffer.alloc(0)
    const first = this.chunks[0] as Buffer
    if (this.start + e <= first.length) return first.subarray(this.start + s, this.start + e)
    const out = Buffer.allocUnsafe(e - s)
    let written = 0
    let skip = this.start + s
    for (let i = 0; i < this.chunks.length && written < out.length; i++) {
      const chunk = this.chunks[i] as Buffer
      if (skip >= chunk.length) { skip -= chunk.length; continue }
      written += chunk.copy(out, written, skip, Math.min(chunk.length, skip + out.length - written))
      skip = 0
    }
    return out
  }
}
