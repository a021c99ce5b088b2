/**
 * Update payloads. An imported manifest names files by size and SHA-256; when the real file sits next to the
 * manifest it is used as is, otherwise HomeFleet generates deterministic bytes of the declared size, so devices
 * download real bytes over MQTT and really hash them. The same update always yields the same bytes.
 */
import { createHash } from 'node:crypto'

/**
 * Largest payload the service publishes over MQTT (one retained message per file). Bigger files import fine (ADU
 * allows 2 GB) but cannot be deployed in a simulation: a deploy of such an update is refused with the reason.
 */
export const MAX_SERVED_FILE_BYTES = 16 * 1024 * 1024

/** SHA-256 of `bytes`, base64, the form ADU manifests use. */
export function sha256Base64 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64')
}

/**
 * `size` bytes that depend only on `seed`: SHA-256 in counter mode (32 bytes per block), so two updates or two files
 * never share content and a flipped byte (the hash-mismatch fault) is always detected.
 */
export function generatePayload (seed: string, size: number): Buffer {
  if (!Number.isInteger(size) || size < 0 || size > MAX_SERVED_FILE_BYTES) throw new RangeError(`payload size must be 0..${MAX_SERVED_FILE_BYTES}, got ${size}`)
  const out = Buffer.allocUnsafe(size)
  const key = createHash('sha256').update(seed).digest()
  const block = Buffer.alloc(36)
  key.copy(block, 0)
  for (let off = 0, n = 0; off < size; off += 32, n++) {
    block.writeUInt32BE(n, 32)
    const digest = createHash('sha256').update(block).digest()
    digest.copy(out, off, 0, Math.min(32, size - off))
  }
  return out
}

/** The seed of one file's generated payload: the update's key and the file name. */
export function payloadSeed (updateKey: string, filename: string): string {
  return `${updateKey}/${filename}`
}
