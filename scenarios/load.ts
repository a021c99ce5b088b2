/**
 * Scenario files: YAML text → a checked {@link Scenario}, or one FLEET_ERR_SCENARIO_INVALID that names every
 * problem with its file, line, column and field (fastify's habit: report all problems together, not the first).
 *
 * The YAML is parsed with positions (`parseDocument` + `LineCounter`), checked with the zod schema
 * (scenarios/schema.ts), and each zod issue path is mapped back to the node it names; a missing key is placed on
 * the nearest map that exists. Then what needs the whole file is checked: the fleet plans (no duplicate ids, not
 * too large), every target selects at least one device, every command is known to the kinds it is sent to and its
 * arguments pass the command catalogue's validator (the devices' own), the rollout parts fit together (manifest files,
 * imported updates, deployment ids), and the duration covers the timeline.
 */
import { hearStep } from './steps/hear.ts'
import { readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { checkManifestText } from '../bridge/rollout/manifest.ts'
import { generatedManifestText } from '../bridge/rollout/generated.ts'
import { normalizeDeployment } from '../bridge/rollout/model.ts'
import { UPDATE_AGENT_DEFAULTS, updateNameOf } from '../devices/update-agent.ts'
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml'
import type { z } from 'zod'
import { FleetError, formatIssue, isFleetError, type Issue } from '../core/errors.ts'
import type { DeviceKind, DeviceSpec } from '../devices/device.ts'
import { planFleet, type DeviceGroupDescription, type FleetDescription } from '../devices/fleet.ts'
import { KIND_COMMANDS } from '../devices/kinds.ts'
import { checkArgs, commandSpec } from '../core/catalogue.ts'
import { CommandError } from '../core/replies.ts'
import { BUILTIN_SCENARIOS } from './builtin/index.ts'
import { formatDuration } from '../core/duration.ts'
import {
  CONDITION_TYPES, DEFAULTS, issueMessage, ROLLOUT_CONDITION_TYPES, scenarioSchema,
  type AgentStateName, type Comparison, type Condition, type DeploymentCondition, type ParsedConditions, type ParsedDeployment, type ParsedFleet, type ParsedRolloutSection,
  type ParsedScenario, type ParsedStep, type ParsedUpdateSource, type RolloutSettings, type Scenario, type Step, type CommandStep, type DeployStep, type TargetSelector,
  type UnknownKeyParams, type UpdateSource
} from './schema.ts'
import { targetMatcher } from './select.ts'
import { didYouMean, suggest } from '../core/suggest.ts'

type PathKey = string | number

/** `timeline[2].args.level` */
export function formatPath (path: readonly PropertyKey[]): string {
  let out = ''
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`
    else out += out === '' ? String(k) : `.${String(k)}`
  }
  return out
}

/** Where things are in the source text. */
class Locator {
  constructor (private readonly doc: Document.Parsed, private readonly lines: LineCounter, private readonly file: string) {}

  /** Line and column of the node at `path`, or of the nearest ancestor that exists (for a missing key). */
  position (path: readonly PropertyKey[], preferKey = false): { line: number; column: number } {
    const keys = path.filter((k): k is PathKey => typeof k === 'string' || typeof k === 'number')
    for (let n = keys.length; n >= 0; n--) {
      const prefix = keys.slice(0, n)
      if (preferKey && n === keys.length && n > 0) {
        // An unknown key: point at the key itself, not its value.
        const parent = prefix.length === 1 ? this.doc.contents : this.doc.getIn(prefix.slice(0, -1), true)
        if (isMap(parent)) {
          const last = prefix[prefix.length - 1]
          const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))
          if (pair !== undefined && isScalar(pair.key) && pair.key.range !== undefined && pair.key.range !== null) return this.at(pair.key.range[0])
        }
      }
      const node: unknown = n === 0 ? this.doc.contents : this.doc.getIn(prefix, true)
      const range = (node as { range?: [number, number, number] | null } | null | undefined)?.range
      if (range !== undefined && range !== null) return this.at(range[0])
    }
    return { line: 1, column: 1 }
  }

  line (path: readonly PropertyKey[]): number { return this.position(path).line }

  issue (path: readonly PropertyKey[], message: string, preferKey = false): Issue {
    const { line, column } = this.position(path, preferKey)
    return { file: this.file, line, column, path: formatPath(path), message }
  }

  private at (offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset)
    return { line: p.line, column: p.col }
  }
}

/**
 * Problems listed in one error; the rest are counted. A junk file can have hundreds of thousands (a 5 MB one had
 * 228,061: 22 MB on stderr), and nobody reads past the first screen.
 */
export const MAX_ISSUES = 50

/** One error for every problem found: the first MAX_ISSUES in line order, then a count of the others. */
function invalid (file: string, issues: Issue[], total = issues.length): FleetError {
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  const shown = issues.slice(0, MAX_ISSUES)
  if (total > shown.length) shown.push({ file, path: '', message: `…and ${total - shown.length} more problems (the first ${shown.length} are listed)` })
  return new FleetError('FLEET_ERR_SCENARIO_INVALID', `${file}: ${total} problem${total === 1 ? '' : 's'}`, { issues: shown })
}

function zodIssueToIssue (loc: Locator, issue: z.core.$ZodIssue): Issue {
  const params = issue.code === 'custom' ? issue.params as Partial<UnknownKeyParams> | undefined : undefined
  if (params?.unknownKey === true) {
    const key = String(issue.path[issue.path.length - 1])
    const allowed = params.allowed ?? []
    const hint = didYouMean(key, allowed)
    return loc.issue(issue.path, `unknown key "${key}"${hint}; allowed here: ${allowed.join(', ')}`, true)
  }
  return loc.issue(issue.path, issue.message)
}

/**
 * Check a scenario given as YAML text; `file` names it in messages. Throws FLEET_ERR_SCENARIO_INVALID with an
 * {@link Issue} (file, line, column, dotted path, message) for every problem found.
 *
 * @example
 * const scenario = loadScenarioText('name: smoke\ntimeline:\n  - at: 1s\n    note: hello\n', 'smoke.yaml')
 */
export function loadScenarioText (text: string, file: string): Scenario {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true })
  const loc = new Locator(doc, lines, file)

  if (doc.errors.length > 0) {
    // Positions only for those listed: the rest are counted.
    throw invalid(file, doc.errors.slice(0, MAX_ISSUES).map((e) => {
      const p = lines.linePos(e.pos[0])
      return { file, line: p.line, column: p.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0] ?? e.message}` }
    }), doc.errors.length)
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 1000 })
  } catch (err) {
    throw invalid(file, [{ file, line: 1, column: 1, path: '', message: `YAML: ${(err as Error).message}` }])
  }
  if (data === null || data === undefined) {
    throw invalid(file, [{ file, line: 1, column: 1, path: '', message: 'the file is empty; a scenario needs at least name: and usually fleet: and timeline:' }])
  }
  // Top-level `x-…` keys are the user's own (as in Compose files): a place to define YAML anchors to reuse.
  if (typeof data === 'object' && !Array.isArray(data)) {
    data = Object.fromEntries(Object.entries(data as Record<string, unknown>).filter(([k]) => !k.startsWith('x-')))
  }
  const parsed = scenarioSchema.safeParse(data, { error: issueMessage })
  if (parsed.success) return build(parsed.data, data as Record<string, unknown>, loc, file)
  const zodIssues = parsed.error.issues
  const issues = zodIssues.slice(0, MAX_ISSUES).map((i) => zodIssueToIssue(loc, i))
  // The whole-file checks (targets, commands, duration) on what did parse, so a user sees those problems in the same
  // pass, not after fixing the schema ones.
  const salvaged = salvage(data, zodIssues)
  if (salvaged !== undefined) {
    const again = scenarioSchema.safeParse(salvaged, { error: issueMessage })
    if (again.success) {
      try {
        build(again.data, salvaged, loc, file)
      } catch (err) {
        if (!isFleetError(err)) throw err
        issues.push(...err.issues.filter((i) => i.path !== '' && !issues.some((j) => j.path === i.path && j.message === i.message)))
      }
    }
  }
  throw invalid(file, issues, zodIssues.length + issues.length - Math.min(zodIssues.length, MAX_ISSUES))
}

/**
 * The file without the parts the schema refused, for the whole-file checks: a bad step becomes a note (so indexes
 * and lines stay), a bad `expect` or top-level setting is dropped (its default applies), a missing name is filled.
 * Undefined when the fleet itself is bad: every whole-file check depends on it.
 */
function salvage (data: unknown, issues: readonly z.core.$ZodIssue[]): Record<string, unknown> | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) }
  const timeline = Array.isArray(out.timeline) ? [...out.timeline as unknown[]] : undefined
  for (const issue of issues) {
    const [top, index] = issue.path
    if (top === undefined) return undefined // the file as a whole, or an unknown top-level key: nothing to keep apart
    if (top === 'fleet') return undefined
    if (top === 'timeline' && typeof index === 'number' && timeline !== undefined) timeline[index] = { at: 0, note: '(not valid)' }
    else if (top === 'name') out.name = '(not valid)'
    else delete out[top as string]
  }
  if (timeline !== undefined) out.timeline = timeline
  if (typeof out.name !== 'string') out.name = '(not valid)'
  return out
}

/**
 * Read and check a scenario file. Throws FLEET_ERR_SCENARIO_NOT_FOUND (naming the path) when it cannot be read,
 * FLEET_ERR_SCENARIO_INVALID when it is not a valid scenario.
 */
export async function loadScenarioFile (file: string): Promise<Scenario> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message
    throw new FleetError('FLEET_ERR_SCENARIO_NOT_FOUND', `cannot read scenario file ${file}: ${why} (built-in scenarios: ${BUILTIN_SCENARIOS.join(', ')})`, { cause: err })
  }
  return loadScenarioText(text, file)
}

// ---- from parsed data to a Scenario, with whole-file checks ------------------------------------------------------

function selector (t: { device?: string[] | undefined; name?: string[] | undefined; kind?: DeviceKind | undefined; room?: string | undefined; home?: string | undefined; all?: true | undefined } | undefined): TargetSelector {
  const out: TargetSelector = {}
  if (t === undefined) return { all: true }
  if (t.device !== undefined) out.device = t.device
  if (t.name !== undefined) out.name = t.name
  if (t.kind !== undefined) out.kind = t.kind
  if (t.room !== undefined) out.room = t.room
  if (t.home !== undefined) out.home = t.home
  if (t.all !== undefined) out.all = t.all
  return out
}

function fleetDescription (f: ParsedFleet | undefined): FleetDescription {
  const out: FleetDescription = {}
  if (f === undefined) return out
  if (f.demoHome !== undefined) out.demoHome = f.demoHome
  if (f.homes !== undefined) out.homes = f.homes
  if (f.telemetryInterval !== undefined) out.telemetryIntervalMs = f.telemetryInterval
  if (f.firmware !== undefined) {
    const fw: Partial<Record<DeviceKind, string>> = {}
    for (const k of ['speaker', 'band', 'camera'] as const) if (f.firmware[k] !== undefined) fw[k] = f.firmware[k]
    out.firmware = fw
  }
  if (f.groups !== undefined) {
    out.groups = f.groups.map((g) => {
      const d: DeviceGroupDescription = { kind: g.kind, count: g.count }
      if (g.room !== undefined) d.room = g.room
      if (g.idPrefix !== undefined) d.idPrefix = g.idPrefix
      if (g.model !== undefined) d.model = g.model
      if (g.firmware !== undefined) d.firmware = g.firmware
      if (g.telemetryInterval !== undefined) d.telemetryIntervalMs = g.telemetryInterval
      if (g.tags !== undefined) d.tags = g.tags
      return d
    })
  }
  return out
}

function conditions (c: ParsedConditions, raw: unknown, base: PathKey[], loc: Locator): Condition[] {
  const out: Condition[] = []
  const rawMap = (raw ?? {}) as Record<string, unknown>
  for (const type of CONDITION_TYPES) {
    const list = c[type]
    if (list === undefined) continue
    const isList = Array.isArray(rawMap[type])
    list.forEach((item, i) => {
      const path = isList ? [...base, type, i] : [...base, type]
      const where = { path: formatPath(path), line: loc.line(path) }
      switch (type) {
        case 'state': {
          const s = item as { target: Parameters<typeof selector>[0]; reported: Record<string, unknown> }
          out.push({ type, ...where, target: selector(s.target), reported: s.reported })
          break
        }
        case 'telemetry': {
          const t = item as { target?: Parameters<typeof selector>[0]; min?: number | undefined; noSequenceGaps?: boolean | undefined; noDuplicates?: boolean | undefined; inOrder?: boolean | undefined }
          out.push({ type, ...where, target: selector(t.target), min: t.min ?? 1, noSequenceGaps: t.noSequenceGaps ?? false, noDuplicates: t.noDuplicates ?? false, inOrder: t.inOrder ?? false })
          break
        }
        case 'events': {
          const e = item as { target?: Parameters<typeof selector>[0]; name: string; min?: number | undefined; max?: number | undefined }
          out.push({ type, ...where, target: selector(e.target), name: e.name, min: e.min ?? (e.max === undefined ? 1 : 0), max: e.max })
          break
        }
        case 'messages': {
          const m = item as { topic: string; min?: number | undefined; max?: number | undefined }
          out.push({ type, ...where, topic: m.topic, min: m.min ?? (m.max === undefined ? 1 : 0), max: m.max })
          break
        }
        case 'online':
        case 'offline': {
          const p = item as { target?: Parameters<typeof selector>[0] }
          out.push({ type, ...where, target: selector(p.target) })
          break
        }
        case 'deployment': {
          const d = item as Omit<DeploymentCondition, 'type' | 'path' | 'line' | 'halt'> & { halt?: { wave?: number | undefined; failureRate?: Comparison | undefined; reason?: string | undefined } | undefined }
          const c: DeploymentCondition = { type, ...where, id: d.id }
          if (d.state !== undefined) c.state = d.state
          if (d.phase !== undefined) c.phase = d.phase
          if (d.wave !== undefined) c.wave = d.wave
          if (d.failureRate !== undefined) c.failureRate = d.failureRate
          if (d.halt !== undefined) {
            const h: NonNullable<DeploymentCondition['halt']> = {}
            if (d.halt.wave !== undefined) h.wave = d.halt.wave
            if (d.halt.failureRate !== undefined) h.failureRate = d.halt.failureRate
            if (d.halt.reason !== undefined) h.reason = d.halt.reason
            c.halt = h
          }
          if (d.counts !== undefined) c.counts = Object.fromEntries(Object.entries(d.counts).filter(([, v]) => v !== undefined))
          if (d.rolledBack !== undefined) c.rolledBack = d.rolledBack
          out.push(c)
          break
        }
        case 'firmware': {
          const f = item as { target?: Parameters<typeof selector>[0]; version: string; agentState?: AgentStateName | undefined }
          out.push({ type, ...where, target: selector(f.target), version: f.version, agentState: f.agentState })
          break
        }
        case 'offers': {
          const o = item as { target?: Parameters<typeof selector>[0]; deployment?: string | undefined; min?: number | undefined; max?: number | undefined }
          out.push({ type, ...where, target: selector(o.target), deployment: o.deployment, min: o.min ?? (o.max === undefined ? 1 : 0), max: o.max })
          break
        }
      }
    })
  }
  return out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
}

/** Everything building a rollout part needs: where the file is, the planned fleet, and where problems go. */
interface BuildContext {
  loc: Locator
  file: string
  specs: readonly DeviceSpec[] | undefined
  issues: Issue[]
}

function step (s: ParsedStep, index: number, raw: unknown, loc: Locator, b: BuildContext): Step {
  const base = { index, line: loc.line(['timeline', index]), atMs: s.step.at }
  switch (s.kind) {
    case 'command':
      return {
        ...base,
        kind: 'command',
        command: s.step.command,
        target: selector(s.step.target),
        args: s.step.payload ?? s.step.args ?? {},
        expect: s.step.expect ?? 'ok',
        timeoutMs: s.step.timeout ?? DEFAULTS.commandTimeoutMs
      }
    case 'desired':
      return { ...base, kind: 'desired', target: selector(s.step.target), desired: s.step.desired }
    case 'note':
      return { ...base, kind: 'note', note: s.step.note }
    case 'check':
      return {
        ...base,
        kind: 'check',
        withinMs: s.step.within ?? 0,
        conditions: conditions(s.step.expect, (raw as Record<string, unknown> | undefined)?.expect, ['timeline', index, 'expect'], loc)
      }
    case 'hear':
      return hearStep(s.step, base)
    case 'import': {
      const items = s.step.import
      const isList = Array.isArray((raw as Record<string, unknown> | undefined)?.import)
      return { ...base, kind: 'import', updates: items.map((u, j) => updateSource(u, isList ? ['timeline', index, 'import', j] : ['timeline', index, 'import'], b)), expect: s.step.expect ?? 'ok' }
    }
    case 'deploy':
      return { ...base, kind: 'deploy', deployment: deploymentInput(s.step.deploy, ['timeline', index, 'deploy'], b), expect: s.step.expect ?? 'ok' }
    case 'rollout':
      return { ...base, kind: 'rollout', action: s.step.rollout, deployment: s.step.deployment, downMs: s.step.down ?? 0, expect: s.step.expect ?? 'ok' }
  }
}

/**
 * An update to import: a manifest file (relative to the scenario file) read and checked rule by rule now, or a
 * generated one (its model, unless given, is the fleet's model of that update name).
 */
function updateSource (u: ParsedUpdateSource, path: PathKey[], b: BuildContext): UpdateSource {
  const line = b.loc.line(path)
  if ('generate' in u) {
    const name = u.generate.split('/')[1] as string
    let model = u.model
    if (model === undefined && b.specs !== undefined) {
      const models = [...new Set(b.specs.map((s) => s.model))]
      model = models.find((m) => updateNameOf(m) === name)
      if (model === undefined) {
        b.issues.push(b.loc.issue([...path, 'generate'], `no device of the fleet has a model whose update name is ${name} (${models.map((m) => `${m} → ${updateNameOf(m)}`).join(', ')})${didYouMean(name, models.map(updateNameOf))}; give model: to say which devices it is for`))
      }
    }
    const text = generatedManifestText({ update: u.generate, sizeInBytes: u.size, compatibility: { manufacturer: UPDATE_AGENT_DEFAULTS.manufacturer, model: model ?? 'unknown' } })
    return { update: u.generate, file: `generated/${u.generate}`, text, generated: true, line }
  }
  const file = resolve(dirname(b.file), u.file)
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    b.issues.push(b.loc.issue(path, `cannot read the manifest ${file}: ${code === 'ENOENT' ? 'no such file (a path is relative to the scenario file)' : code ?? (err as Error).message}`))
    return { update: '', file, text, generated: false, line }
  }
  const checked = checkManifestText(text, u.file)
  for (const i of checked.issues) b.issues.push(b.loc.issue(path, `manifest ${formatIssue(i)}`))
  const id = checked.manifest?.updateId
  return { update: id === undefined ? '' : `${id.provider}/${id.name}/${id.version}`, file, text, generated: false, line }
}

/** A deployment as the service takes it, checked now by the service's own rules (normalizeDeployment). */
function deploymentInput (d: ParsedDeployment, path: PathKey[], b: BuildContext): DeployStep['deployment'] {
  const out: DeployStep['deployment'] = { id: d.id, update: d.update }
  if (d.group !== undefined) out.group = d.group
  if (d.startAt !== undefined) out.startAt = d.startAt
  if (d.targetCondition !== undefined) out.targetCondition = d.targetCondition
  if (d.waves !== undefined) {
    out.waves = d.waves.map((w) => ({
      percent: w.percent,
      ...(w.soak === undefined ? {} : { soak: w.soak }),
      ...(w.successThreshold === undefined ? {} : { successThreshold: w.successThreshold }),
      ...(w.errorThreshold === undefined ? {} : { errorThreshold: w.errorThreshold })
    }))
  }
  if (d.rateLimit !== undefined) {
    const r = d.rateLimit
    out.rateLimit = r.perMinute !== undefined
      ? { perMinute: r.perMinute }
      : {
          baseRate: r.baseRate as number,
          factor: r.factor as number,
          ...(r.notified === undefined ? {} : { notified: r.notified }),
          ...(r.succeeded === undefined ? {} : { succeeded: r.succeeded }),
          ...(r.maxPerMinute === undefined ? {} : { maxPerMinute: r.maxPerMinute })
        }
  }
  if (d.abort !== undefined) out.abort = d.abort.map((a) => ({ failureType: a.failureType, thresholdPercent: a.thresholdPercent, minExecuted: a.minExecuted }))
  if (d.inProgressTimeout !== undefined) out.inProgressTimeout = d.inProgressTimeout
  if (d.retries !== undefined) out.retries = d.retries
  if (d.rollback !== undefined) {
    out.rollback = {
      update: d.rollback.update,
      ...(d.rollback.failedPercent === undefined ? {} : { failedPercent: d.rollback.failedPercent }),
      ...(d.rollback.failedCount === undefined ? {} : { failedCount: d.rollback.failedCount })
    }
  }
  try {
    normalizeDeployment(out, 0, () => d.id)
  } catch (err) {
    if (!isFleetError(err)) throw err
    for (const i of err.issues) b.issues.push(b.loc.issue([...path, ...pathOf(i.path)], i.message))
  }
  return out
}

function rolloutSettings (r: ParsedRolloutSection | undefined, raw: unknown, b: BuildContext): RolloutSettings | undefined {
  if (r === undefined) return undefined
  const isList = Array.isArray((raw as Record<string, unknown> | undefined)?.updates)
  const agent: RolloutSettings['agent'] = {}
  if (r.agent?.bandwidth !== undefined) agent.bandwidth = r.agent.bandwidth
  if (r.agent?.installTime !== undefined) agent.installMs = r.agent.installTime
  if (r.agent?.rebootTime !== undefined) agent.rebootMs = r.agent.rebootTime
  if (r.agent?.downloadTimeout !== undefined) agent.downloadTimeoutMs = r.agent.downloadTimeout
  if (r.agent?.progressSteps !== undefined) agent.progressSteps = r.agent.progressSteps
  return {
    updates: (r.updates ?? []).map((u, j) => updateSource(u, isList ? ['rollout', 'updates', j] : ['rollout', 'updates'], b)),
    agent,
    faults: (r.faults ?? []).map((f, j) => ({ fault: f.fault, target: selector(f.target), probability: f.probability ?? 1, line: b.loc.line(['rollout', 'faults', j]) }))
  }
}

/** Every target in the file with its path, for the "selects no device" check. */
function targets (scenario: Scenario): Array<{ path: PathKey[]; target: TargetSelector }> {
  const out: Array<{ path: PathKey[]; target: TargetSelector }> = []
  for (const s of scenario.timeline) {
    if (s.kind === 'command' || s.kind === 'desired') out.push({ path: ['timeline', s.index, 'target'], target: s.target })
    if (s.kind === 'check') {
      for (const c of s.conditions) if ('target' in c) out.push({ path: [...pathOf(c.path), 'target'], target: c.target })
    }
  }
  for (const c of scenario.expect) if ('target' in c) out.push({ path: [...pathOf(c.path), 'target'], target: c.target })
  scenario.rollout?.faults.forEach((f, j) => { out.push({ path: ['rollout', 'faults', j, 'target'], target: f.target }) })
  return out
}

/** `timeline[2].expect.state[1]` → ['timeline', 2, 'expect', 'state', 1] */
function pathOf (dotted: string): PathKey[] {
  const out: PathKey[] = []
  for (const m of dotted.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1] as string)
  return out
}

function build (p: ParsedScenario, raw: Record<string, unknown>, loc: Locator, file: string): Scenario {
  const issues: Issue[] = []
  const fleet = fleetDescription(p.fleet)
  let specs: DeviceSpec[] | undefined
  try {
    specs = planFleet(fleet)
  } catch (err) {
    if (!isFleetError(err)) throw err
    if (err.issues.length === 0) issues.push(loc.issue(['fleet'], err.message))
    for (const i of err.issues) {
      const path = pathOf(i.path).map((k) => k === 'telemetryIntervalMs' ? 'telemetryInterval' : k)
      issues.push(loc.issue(['fleet', ...path], i.message))
    }
  }
  const b: BuildContext = { loc, file, specs, issues }
  const rollout = rolloutSettings(p.rollout, raw.rollout, b)
  const timeline = (p.timeline ?? []).map((s, i) => step(s, i, (raw.timeline as unknown[])[i], loc, b))
  const expect = p.expect === undefined ? [] : conditions(p.expect, raw.expect, ['expect'], loc)

  let end = 0
  for (const s of timeline) end = Math.max(end, s.atMs + (s.kind === 'check' ? s.withinMs : s.kind === 'rollout' ? s.downMs : 0))
  const durationMs = p.duration ?? end + DEFAULTS.tailMs
  if (p.duration !== undefined) {
    const given = p.duration
    const late = timeline.find((s) => s.atMs > given)
    if (late !== undefined) issues.push(loc.issue(['duration'], `the run ends at ${formatDuration(given)}, before timeline[${late.index}] at ${formatDuration(late.atMs)} (line ${late.line}); make duration longer or leave it out`))
  }

  const allConditions = [...expect, ...timeline.flatMap((s) => (s.kind === 'check' ? s.conditions : []))]
  const usesRollouts = rollout !== undefined || timeline.some((s) => s.kind === 'import' || s.kind === 'deploy' || s.kind === 'rollout') ||
    allConditions.some((c) => ROLLOUT_CONDITION_TYPES.has(c.type))
  const scenario: Scenario = {
    name: p.name,
    description: p.description,
    file,
    seed: p.seed ?? DEFAULTS.seed,
    broker: p.broker ?? DEFAULTS.broker,
    prefix: p.prefix ?? DEFAULTS.prefix,
    durationMs,
    speed: p.speed ?? DEFAULTS.speed,
    startTime: p.startTime === undefined ? DEFAULTS.startTime : p.startTime === 'now' ? 'now' : Date.parse(p.startTime),
    fleet,
    connectRate: p.fleet?.connectRate,
    timeline,
    expect,
    rollout,
    usesRollouts
  }
  checkRollouts(scenario, allConditions, loc, issues)

  if (specs !== undefined && specs.length === 0) issues.push(loc.issue(['fleet'], 'the fleet has no devices: keep demoHome, or add homes or groups'))
  if (specs !== undefined && specs.length > 0) {
    for (const { path, target } of targets(scenario)) {
      const match = targetMatcher(target)
      if (specs.some(match)) continue
      issues.push(loc.issue(path, `selects none of the fleet's ${specs.length} devices${hintFor(target, specs)}`))
    }
    for (const s of timeline) if (s.kind === 'command') checkCommand(s, specs, loc, issues)
  }
  // The observer subscribes to `{prefix}/#` only: a messages filter that cannot match under the prefix would be
  // "none seen" by construction (passing any max, failing any min).
  for (const c of allConditions) {
    if (c.type === 'messages' && !filterCanMatchUnder(c.topic, scenario.prefix)) {
      issues.push(loc.issue([...pathOf(c.path), 'topic'], `${JSON.stringify(c.topic)} can never match: the run watches only ${scenario.prefix}/# (the prefix); write it as ${scenario.prefix}/…`))
    }
  }
  if (issues.length > 0) throw invalid(file, issues)
  return scenario
}

/**
 * What the rollout parts of a file need from each other: every update a deployment names (and its rollback) is
 * imported by the file, deployment ids are unique, and every deployment a step or condition names is deployed by the
 * file (or is the rollback the service makes of one: `<id>-rollback`), no later than the step that uses it.
 */
function checkRollouts (scenario: Scenario, allConditions: readonly Condition[], loc: Locator, issues: Issue[]): void {
  const imported = new Map<string, number>() // update → earliest time it is imported
  for (const u of scenario.rollout?.updates ?? []) if (u.update !== '') imported.set(u.update, 0)
  const deployed = new Map<string, { atMs: number; line: number | undefined }>()
  for (const s of scenario.timeline) {
    if (s.kind === 'import') for (const u of s.updates) if (u.update !== '' && !imported.has(u.update)) imported.set(u.update, s.atMs)
  }
  const unknownUpdate = (update: string): string => {
    const known = [...imported.keys()]
    return `${update} is not imported by this scenario${didYouMean(update, known)}; import it in rollout.updates or an import step (${known.length === 0 ? 'none is' : `imported: ${known.join(', ')}`})`
  }
  for (const s of scenario.timeline) {
    if (s.kind !== 'deploy') continue
    const d = s.deployment
    const base: PathKey[] = ['timeline', s.index, 'deploy']
    if (deployed.has(d.id)) issues.push(loc.issue([...base, 'id'], `deployment ${d.id} is already deployed at line ${deployed.get(d.id)?.line ?? '?'}; give each deployment its own id`))
    else deployed.set(d.id, { atMs: s.atMs, line: s.line })
    if (d.rollback !== undefined) deployed.set(`${d.id}-rollback`, { atMs: s.atMs, line: s.line })
    for (const [update, path] of [[d.update, [...base, 'update']], [d.rollback?.update, [...base, 'rollback', 'update']]] as const) {
      if (update === undefined) continue
      const at = imported.get(update)
      if (at === undefined) issues.push(loc.issue(path, unknownUpdate(update)))
      else if (at > s.atMs) issues.push(loc.issue(path, `${update} is imported at ${formatDuration(at)}, after this deployment at ${formatDuration(s.atMs)}`))
    }
  }
  const known = [...deployed.keys()]
  const checkId = (id: string, path: PathKey[], atMs: number | undefined): void => {
    const d = deployed.get(id)
    if (d === undefined) issues.push(loc.issue(path, `no deploy step in this scenario creates deployment ${id}${didYouMean(id, known)}${known.length === 0 ? '' : ` (deployments: ${known.join(', ')})`}`))
    else if (atMs !== undefined && d.atMs > atMs) issues.push(loc.issue(path, `deployment ${id} is deployed at ${formatDuration(d.atMs)} (line ${d.line ?? '?'}), after this step at ${formatDuration(atMs)}`))
  }
  for (const s of scenario.timeline) {
    if (s.kind === 'rollout' && s.deployment !== undefined) checkId(s.deployment, ['timeline', s.index, 'deployment'], s.atMs)
  }
  for (const c of allConditions) {
    if (c.type === 'deployment') checkId(c.id, [...pathOf(c.path), 'id'], undefined)
    if (c.type === 'offers' && c.deployment !== undefined) checkId(c.deployment, [...pathOf(c.path), 'deployment'], undefined)
  }
}

/** Can some topic under `{prefix}/` match `filter`? */
function filterCanMatchUnder (filter: string, prefix: string): boolean {
  const f = filter.split('/')
  const p = prefix.split('/')
  for (let i = 0; i < p.length; i++) {
    const level = f[i]
    if (level === undefined) return false
    if (level === '#') return true
    if (level !== '+' && level !== p[i]) return false
  }
  return f.length > p.length
}

/**
 * A command some selected device does not know would get UNKNOWN_COMMAND at run time: say so now, unless the
 * step expects exactly that (or any reply).
 */
function checkCommand (step: CommandStep, specs: readonly DeviceSpec[], loc: Locator, issues: Issue[]): void {
  if (step.expect === 'UNKNOWN_COMMAND' || step.expect === 'any') return
  const match = targetMatcher(step.target)
  const selected = specs.filter(match)
  const kinds = [...new Set(selected.map((s) => s.kind))]
  const unknownTo = kinds.filter((k) => !KIND_COMMANDS[k].includes(step.command))
  if (selected.length === 0) return
  if (unknownTo.length === 0) { checkCommandArgs(step, kinds, loc, issues); return }
  const known = [...new Set(kinds.flatMap((k) => KIND_COMMANDS[k]))]
  if (unknownTo.length === kinds.length) {
    const k = kinds.length === 1 ? `a ${kinds[0] as string}` : `a ${kinds.join(' or ')}`
    issues.push(loc.issue(['timeline', step.index, 'command'], `${step.command} is not ${k} command${didYouMean(step.command, known)}; ${kinds.map((kind) => `${kind}: ${KIND_COMMANDS[kind].join(', ')}`).join('; ')} (to test the error reply, add expect: UNKNOWN_COMMAND)`))
    return
  }
  const n = selected.filter((s) => unknownTo.includes(s.kind)).length
  issues.push(loc.issue(['timeline', step.index, 'command'], `${step.command} is not a ${unknownTo.join(' or ')} command, and ${n} of the ${selected.length} selected devices are ${unknownTo.map((k) => `${k}s`).join(' or ')}; narrow the target with kind:, or add expect: any`))
}

/**
 * The arguments of a command step against the command catalogue (core/catalogue.ts), with the devices' own validator:
 * an argument the command does not take (a typo of an optional one would be ignored by the device), or a value the
 * device would refuse, is an error now, unless the step expects that very error (or any reply).
 */
function checkCommandArgs (step: CommandStep, kinds: readonly DeviceKind[], loc: Locator, issues: Issue[]): void {
  if (step.expect === 'any' || typeof step.args === 'string') return
  const args = step.args
  const base: PathKey[] = ['timeline', step.index]
  const seen = new Set<string>()
  const add = (path: PathKey[], message: string): void => {
    if (seen.has(message)) return
    seen.add(message)
    issues.push(loc.issue(path, message))
  }
  for (const kind of kinds) {
    const spec = commandSpec(kind, step.command)
    if (spec === undefined) continue
    const names = Object.keys(spec.args)
    const takes = names.length === 0 ? `${step.command} takes no arguments` : `${step.command} takes ${names.join(', ')}`
    for (const k of Object.keys(args)) {
      if (!names.includes(k)) add([...base, 'args', k], `unknown argument "${k}" of ${step.command}${didYouMean(k, names)}; ${takes}`)
    }
    try {
      checkArgs(spec, args)
    } catch (err) {
      if (!(err instanceof CommandError) || err.code === step.expect) continue
      const name = /^argument "([^"]+)"/.exec(err.message)?.[1]
      const path = name !== undefined && name in args ? [...base, 'args', name] : [...base, 'args']
      const answer = `a ${kind} would answer ${err.code}`
      add(path, `${err.message}: ${answer}${step.expect === 'ok' ? ` (to test that error reply, add expect: ${err.code})` : `, not ${step.expect}`}`)
    }
  }
}

/** Why a selector may have missed: the closest name, id, room or home. */
function hintFor (target: TargetSelector, specs: readonly DeviceSpec[]): string {
  const uniq = (f: (s: DeviceSpec) => string): string[] => [...new Set(specs.map(f))]
  const tries: Array<[string, readonly string[] | string | undefined, (s: DeviceSpec) => string]> = [
    ['name', target.name, (s) => s.name],
    ['device', target.device, (s) => s.id],
    ['room', target.room, (s) => s.room],
    ['home', target.home, (s) => s.home]
  ]
  for (const [field, value, f] of tries) {
    if (value === undefined) continue
    for (const v of typeof value === 'string' ? [value] : value) {
      if (/[*?]/.test(v)) continue
      const known = uniq(f)
      if (known.includes(v)) continue
      const s = suggest(v, known)
      if (s !== undefined) return ` (${field} "${v}": did you mean "${s}"?)`
      return ` (no device has ${field} "${v}")`
    }
  }
  return ' (each field must match: they combine with AND)'
}
