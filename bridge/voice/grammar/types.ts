import type { IntentName, Lang, Slots } from '../intents.ts'

/** One phrasing of one intent (see pattern.ts for the syntax). */
export interface Template {
  readonly intent: Exclude<IntentName, 'None'>
  readonly pattern: string
  /** Slots the phrasing itself says: `night mode off` → `{on: false}`, `louder` → `{delta: 10}`, `max volume` → `{level: 100}`. */
  readonly set?: Slots
  /** A room the phrasing implies when none is named (`who is at the door` → front door), if the home has it. */
  readonly impliedRoom?: string
  /**
   * A remark that implies the request (`too loud`, `on n'entend rien`): when words are left unexplained, it yields
   * to an explicit request elsewhere in the utterance (`unmute the bedroom, I can't hear a thing`).
   */
  readonly remark?: true
  /**
   * A verb that means "play" only with something playable after it (`mets`, `passe`, `put on`): a media word of the
   * grammar (`mets la radio`), what a partitive or quantity introduces (`mets du jazz`, `put on some Miles Davis`), or
   * a name (`mets Nina Simone`, `put on La Vie en rose`). Anything else after it (`mets la table`, `passe-moi le sel`,
   * `put on a jacket`) is what the verb acts on: the template does not match, in either pass.
   */
  readonly playableObject?: true
}

/** A language's grammar: its templates (order breaks ties) and, per intent, words that may go unexplained. */
export interface Grammar {
  readonly lang: Lang
  readonly templates: readonly Template[]
  /** Words an intent tolerates anywhere (`a bit` for volume, `today` for steps, `music` for media). */
  readonly extras: Readonly<Partial<Record<IntentName, readonly string[]>>>
}
