/**
 * Resolution: slots → the devices meant. By name; by room (either language: the recognizer already gives the room
 * id) and kind; "all"; a room without a kind picks the devices there that can do the intent ("turn off the
 * kitchen"); nothing said about where uses the speaker that heard it (itself if it can do it, else its room); when
 * several devices still match and nothing decides, the answer is a re-prompt listing them, never a guess.
 *
 * Scope: the home of the speaker that heard the request (a fleet may hold many homes with the same device names);
 * the whole fleet when the request has no `from`.
 */
import type { HomeModel, KnownDevice } from '../home.ts'
import { PERSONAL_INTENTS, supports } from './actions.ts'
import type { IntentName, Slots } from './intents.ts'

export type Resolution =
  | { type: 'targets'; devices: KnownDevice[] }
  | { type: 'notFound'; name?: string; room?: string; kind?: string }
  | { type: 'ambiguous'; candidates: KnownDevice[] }

const asList = <T>(v: T | T[] | undefined): T[] => v === undefined ? [] : Array.isArray(v) ? v : [v]

/**
 * Devices in the order of their ids: the home learns them in whatever order their retained messages arrive, and an
 * answer naming several ("I turned off the living room camera and the living room speaker") or a question listing them
 * must read the same in every run.
 */
const byId = (devices: readonly KnownDevice[]): KnownDevice[] => [...devices].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

export function resolveTargets (intent: IntentName, slots: Slots, home: HomeModel, from: KnownDevice | undefined): Resolution {
  const inScope = (d: KnownDevice): boolean => from?.home === undefined || d.home === from.home

  const names = asList(slots.device)
  if (names.length > 0) {
    const out: KnownDevice[] = []
    for (const name of names) {
      const all = home.byName(name)
      const scoped = all.filter(inScope)
      const matches = scoped.length > 0 ? scoped : all
      if (matches.length === 0) return { type: 'notFound', name }
      if (matches.length > 1) return { type: 'ambiguous', candidates: byId(matches) }
      out.push(matches[0] as KnownDevice)
    }
    // Named devices are targets even when offline or unable: the answer says so for each.
    return { type: 'targets', devices: out }
  }

  const rooms = asList(slots.room)
  const kinds = asList(slots.kind)
  const found: KnownDevice[] = []
  for (const d of home.all()) {
    if (!inScope(d) || !supports(intent, d)) continue
    if (kinds.length > 0 && !(kinds as string[]).includes(d.kind)) continue
    if (rooms.length > 0 && !rooms.includes(d.room)) continue
    found.push(d)
  }
  const pool = byId(found)
  const online = pool.filter((d) => d.online)
  const notFound = (): Resolution => {
    const r: Resolution = { type: 'notFound' }
    if (rooms[0] !== undefined) r.room = rooms[0]
    if (kinds[0] !== undefined) r.kind = kinds[0]
    return r
  }

  // A room or "all" means every device there that can do it (offline ones are no longer targets of a group).
  if (rooms.length > 0 || slots.all === true) {
    if (online.length > 0) return { type: 'targets', devices: online }
    return pool.length > 0 ? { type: 'targets', devices: pool } : notFound()
  }

  // Nothing said about where: the speaker that heard it, then its room, then the home.
  if (from !== undefined && !PERSONAL_INTENTS.has(intent)) {
    if (kinds.length === 0 && from.online && supports(intent, from)) return { type: 'targets', devices: [from] }
    const local = online.filter((d) => d.room === from.room)
    if (local.length === 1) return { type: 'targets', devices: local }
    if (local.length > 1) return { type: 'ambiguous', candidates: local }
  }
  if (online.length === 1) return { type: 'targets', devices: online }
  if (online.length > 1) return { type: 'ambiguous', candidates: online }
  if (pool.length === 1) return { type: 'targets', devices: pool }
  if (pool.length > 1) return { type: 'ambiguous', candidates: pool }
  return notFound()
}
