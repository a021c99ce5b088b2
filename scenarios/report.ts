/**
 * The result of a scenario run: a JSON-friendly {@link ScenarioReport} (CI archives it with `--json`) and
 * {@link formatReport}, its terminal form, ending with one PASSED / FAILED / INCONCLUSIVE / ABORTED / BROKER LOST
 * line.
 */
import { describeHear } from './steps/hear.ts'
import { describeDeploy, describeImport, describeRollout } from './steps/rollout.ts'
import type { FleetCounters } from '../devices/fleet.ts'
import { formatDuration } from '../core/duration.ts'
import type { TrafficCounts } from './observer.ts'
import type { Step } from './schema.ts'
import { describeCondition } from './conditions.ts'
import { describeTarget } from './select.ts'

export type StepStatus = 'passed' | 'failed' | 'inconclusive' | 'done' | 'skipped'

/**
 * How a run ended; the exit code of `fleet run` follows (0 passed, 1 failed or aborted, 3 broker-lost,
 * 4 inconclusive). `inconclusive`: no expectation failed, but one or more could not be checked because the observer
 * missed messages the devices sent: neither a device failure nor a pass.
 */
export type RunResult = 'passed' | 'failed' | 'inconclusive' | 'aborted' | 'broker-lost'

/** What the observer saw of what the devices sent, and what it makes of a shortfall. */
export interface ObserverReport {
  /** Messages the devices say they sent that the observer did not receive. */
  missed: number
  /** Messages the devices say they sent. */
  sent: number
  /** Times one of its connections was lost and made again. */
  reconnects: number
  /** Milliseconds during which a connection of the observer was down. */
  downMs: number
  /** Retained messages from before the run, ignored (never taken for this run's state). */
  staleIgnored: number
  /** The shortfall in plain words, with what to do about it; undefined when nothing was missed. */
  note: string | undefined
}
/** One checked condition, in a check step or at the end of the run. */
export interface ConditionReport {
  description: string
  /** Where it is written, e.g. `timeline[4].expect.state`. */
  path: string
  line: number | undefined
  status: 'passed' | 'failed' | 'inconclusive'
  detail: string
}

export interface ReplyTally {
  ok: number
  /** Error replies by code. */
  errors: Record<string, number>
  /** Devices that did not answer within the step's timeout. */
  timeouts: number
  /** Of those, devices that did handle the command by their own count: their reply was lost on the way back. */
  repliesMissed: number
}

export interface StepReport {
  index: number
  line: number | undefined
  kind: Step['kind']
  /** When the step was due, ms after the fleet was online. */
  atMs: number
  description: string
  /**
   * `passed`/`failed` for commands and checks (`inconclusive` when the runner missed what it needed to decide);
   * `done` for notes and desired state; `skipped` when the run was aborted first.
   */
  status: StepStatus
  detail: string | undefined
  /** When it actually started, ms after the fleet was online (undefined if skipped). */
  startedMs: number | undefined
  tookMs: number | undefined
  /** Devices the step addressed (commands, desired state). */
  devices: number | undefined
  replies: ReplyTally | undefined
  conditions: ConditionReport[] | undefined
}

export interface ScenarioReport {
  result: RunResult
  /** This run's id: in the runner's client ids and logs, to tell runs on one broker apart. */
  runId: string
  name: string
  description: string | undefined
  file: string | undefined
  seed: number
  speed: number
  /** The device clock's start: an ISO date-time, or `now`. */
  startTime: string
  /** ISO time the run started. */
  startedAt: string
  /** Wall time of the whole run, start-up and tear-down included. */
  durationMs: number
  /** Wall time from fleet online to the end of the timeline. */
  timelineMs: number
  /** `embedded mqtt://127.0.0.1:port`, with ` (in its own thread)` when the broker ran in a thread of its own, or the external broker's URL. */
  broker: string
  embeddedBroker: boolean
  prefix: string
  fleet: { devices: number; byKind: Record<string, number>; onlineMs: number }
  steps: StepReport[]
  /** The file's top-level `expect`, checked at the end. */
  finalChecks: ConditionReport[]
  /** Every condition, in check steps and at the end. */
  expectations: { passed: number; failed: number; inconclusive: number }
  /** What the observer saw. */
  traffic: TrafficCounts & { topics: number }
  /** How much of the fleet's traffic the observer missed (undefined when the run ended before it started). */
  observer: ObserverReport | undefined
  /** What the devices counted themselves. */
  deviceCounters: FleetCounters | undefined
  /** Why the run stopped early, when `result` is `aborted` or `broker-lost`. */
  abortReason: string | undefined
  /** When `result` is `broker-lost`: which broker, for how long. */
  brokerLost: string | undefined
}

/**
 * The observer's shortfall in plain words: how many messages it missed and the likely cause, with the setting to
 * change; undefined when it missed nothing.
 */
export function observerNote (report: Pick<ScenarioReport, 'observer' | 'embeddedBroker'>): string | undefined {
  const o = report.observer
  if (o === undefined || o.missed === 0) return undefined
  const parts = [`the observer missed ${thousands(o.missed)} of ${thousands(o.sent)} messages the devices sent`]
  if (o.reconnects > 0) parts.push(`it lost its connection ${o.reconnects === 1 ? 'once' : `${o.reconnects} times`} (${formatDuration(o.downMs)} in all), and what was sent meanwhile did not reach it`)
  if (!report.embeddedBroker) parts.push("the broker dropped messages to a slow subscriber: raise mosquitto's max_queued_messages (EMQX: max_mqueue_len), see \"Running against your own broker\" in docs/scenarios.md")
  return `${parts.join('; ')}. Checks that depended on those messages are inconclusive, not failed.`
}

/** `setVolume {"level":30} → kitchen speaker`, `check state of …`, the note's text. */
export function describeStep (step: Step): string {
  switch (step.kind) {
    case 'command': {
      const args = typeof step.args === 'string' ? JSON.stringify(step.args) : Object.keys(step.args).length === 0 ? '' : ` ${JSON.stringify(step.args)}`
      const expectation = step.expect === 'ok' ? '' : step.expect === 'any' ? ' (any reply)' : ` (expect ${step.expect})`
      return `${step.command}${typeof step.args === 'string' ? ` ${args}` : args} → ${describeTarget(step.target)}${expectation}`
    }
    case 'desired':
      return `desired ${JSON.stringify(step.desired)} → ${describeTarget(step.target)}`
    case 'note':
      return step.note
    case 'hear':
      return describeHear(step)
    case 'import':
      return describeImport(step)
    case 'deploy':
      return describeDeploy(step)
    case 'rollout':
      return describeRollout(step)
    case 'check': {
      // Several conditions are listed when that stays readable on one line, counted otherwise.
      const all = step.conditions.map(describeCondition).join('; ')
      const what = step.conditions.length === 1 || all.length <= 120 ? all : `${step.conditions.length} conditions`
      return `check ${what}${step.withinMs > 0 ? ` (within ${formatDuration(step.withinMs)})` : ''}`
    }
  }
}

const MARK: Record<StepStatus, string> = { passed: '✓', failed: '✗', inconclusive: '?', done: '•', skipped: '-' }

function thousands (n: number): string {
  return n.toLocaleString('en-US')
}

function bytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/** One report line for a step (the CLI prints the same line live from its progress event). */
export function formatStepLine (s: { status: StepStatus; atMs: number; line: number | undefined; description: string; detail?: string | undefined }): string {
  const where = s.line === undefined ? '' : `line ${s.line}  `
  const detail = s.detail === undefined || s.detail === '' ? '' : ` — ${s.detail}`
  return `${MARK[s.status]} ${formatDuration(s.atMs).padStart(6)}  ${where}${s.description}${detail}`
}

/**
 * The report for a terminal: header, one line per step (conditions indented under their check), the final
 * checks, traffic, the observer's shortfall if any, and a last line that starts with PASSED, FAILED, INCONCLUSIVE, ABORTED or
 * BROKER LOST.
 */
export function formatReport (report: ScenarioReport): string {
  const out: string[] = []
  out.push(`Scenario: ${report.name}${report.file === undefined ? '' : ` (${report.file})`}`)
  if (report.description !== undefined && report.description.trim() !== '') out.push(`  ${report.description.trim()}`)
  const kinds = Object.entries(report.fleet.byKind).map(([k, n]) => `${thousands(n)} ${k}${n === 1 ? '' : 's'}`).join(', ')
  out.push(`  seed ${report.seed}${report.speed === 1 ? '' : `, speed ×${report.speed}`} · device clock from ${report.startTime} · broker ${report.broker}`)
  out.push(`  fleet ${thousands(report.fleet.devices)} devices (${kinds}) online in ${formatDuration(report.fleet.onlineMs)}`)

  if (report.steps.length > 0) {
    out.push('', 'Timeline')
    for (const s of [...report.steps].sort((a, b) => a.atMs - b.atMs || a.index - b.index)) {
      const conditions = s.conditions ?? []
      // Several conditions: a count on the step's line, then one line each (the step's own detail repeats them).
      const detail = conditions.length > 1 ? `${conditions.filter((c) => c.status === 'passed').length} of ${conditions.length} conditions hold` : s.detail
      out.push(`  ${formatStepLine({ ...s, detail })}`)
      if (s.conditions !== undefined && conditions.length > 1) {
        for (const c of s.conditions) out.push(`      ${MARK[c.status]} ${c.description} — ${c.detail}`)
      }
    }
  }
  if (report.finalChecks.length > 0) {
    out.push('', 'At the end')
    for (const c of report.finalChecks) out.push(`  ${MARK[c.status]} ${c.line === undefined ? '' : `line ${c.line}  `}${c.description} — ${c.detail}`)
  }

  const t = report.traffic
  const parts = [
    ['telemetry', t.telemetry], ['events', t.events], ['commands', t.commands], ['replies', t.replies],
    ['reported', t.reported], ['desired', t.desired], ['status', t.status], ['logs', t.logs]
  ].filter(([, n]) => (n as number) > 0).map(([k, n]) => `${k as string} ${thousands(n as number)}`)
  out.push('', `Traffic: ${thousands(t.messages)} messages (${bytes(t.bytes)}) on ${thousands(t.topics)} topics${parts.length > 0 ? `: ${parts.join(' · ')}` : ''}`)

  if (report.observer?.note !== undefined) out.push('', `Observer: ${report.observer.note}`)
  else if (report.observer !== undefined && report.observer.staleIgnored > 0) out.push(`Retained state from before the run ignored: ${thousands(report.observer.staleIgnored)} messages`)
  const c = report.deviceCounters as (Record<string, number> | undefined)
  if (c !== undefined && ((c.reconnects ?? 0) > 0 || (c.dropped ?? 0) > 0)) out.push(`Devices: ${thousands(c.reconnects ?? 0)} reconnects, ${thousands(c.dropped ?? 0)} messages dropped by the devices themselves (offline queue full)`)

  const failedSteps = report.steps.filter((s) => s.status === 'failed').length
  const unsureSteps = report.steps.filter((s) => s.status === 'inconclusive').length
  const ranSteps = report.steps.filter((s) => s.status !== 'skipped').length
  const e = report.expectations
  const unsure = e.inconclusive > 0 ? `, ${e.inconclusive} inconclusive` : ''
  const counts = `${ranSteps} of ${report.steps.length} steps run, ${failedSteps} failed${unsureSteps > 0 ? `, ${unsureSteps} inconclusive` : ''}; ${e.passed} of ${e.passed + e.failed + e.inconclusive} expectations passed${unsure}`
  const took = `in ${formatDuration(report.durationMs)}`
  out.push('')
  switch (report.result) {
    case 'aborted': out.push(`ABORTED ${report.abortReason ?? ''}`.trimEnd() + ` — ${counts}, ${took}`); break
    case 'broker-lost': out.push(`BROKER LOST ${report.brokerLost ?? ''}`.trimEnd() + ` — ${counts}, ${took}`); break
    case 'inconclusive': out.push(`INCONCLUSIVE — the observer could not check everything; no device failed — ${counts}, ${took}`); break
    default: out.push(`${report.result === 'passed' ? 'PASSED' : 'FAILED'} — ${counts}, ${took}`)
  }
  return out.join('\n')
}
