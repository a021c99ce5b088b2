/** The demo home as the recognizer sees it, for the corpus evaluation and the benchmark. */
import { createRecognizer, type Recognizer } from '../bridge/voice/index.ts'
import { DEMO_ROOMS, planHome } from '../devices/home.ts'

export const demoRooms = DEMO_ROOMS.map((r) => ({ id: r.name, aliases: r.aliases }))

export function demoRecognizer (): Recognizer {
  return createRecognizer({ rooms: demoRooms, devices: planHome({ home: 'demo' }) })
}
