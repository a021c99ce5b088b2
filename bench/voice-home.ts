/** The demo home as the recognizer sees it, for the corpus evaluation and the benchmark. */
import { createRecognizer, type Recognizer } from '../bridge/voice/index.ts'
import { planHome } from '../devices/home.ts'

export function demoRecognizer (): Recognizer {
  return createRecognizer({ devices: planHome({ home: 'demo' }) })
}
