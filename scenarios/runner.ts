/**
 * The scenario runner: start a broker (or use an external one), an observer and a controller client, bring the
 * fleet online, play the timeline on wall-clock time, check the expectations, tear everything down, and report.
 *
 * Timing: `at` is measured from the moment the whole fleet is online. Each step starts at its time whether or not
 * earlier steps have finished (a slow command does not delay the next step); steps with the same `at` run one after
 * another in file order, so "command, then check" at one time does what it says. Devices run on
 * `new ScaledClock(speed, startTime)` (a fixed start by default, for reproducible time-of-day behaviour), the timeline
 * on real time.
 *
 * Everything opened is closed on success, failure and abort, in reverse order of opening.
 */
import type { MqttClient } from 'mqtt'
import { delay, fanOutSignal, ScaledClock } from '../core/clock.ts'
import { Commander, type CommandReply } from '../core/commander.ts'
import { FleetError, isFleetError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import { createMqttClient, endClient, refusedStream, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'
import { IssueCollector } from '../core/options.ts'
import { createTopics, type Topics } from '../core/topics.ts'
import { createBroker, type EmbeddedBroker } from '../broker/broker.ts'
import type { Device } from '../devices/device.ts'
import { Fleet, planFleet } from '../devices/fleet.ts'
import { evaluateCondition, describeCondition, list, type ConditionContext } from './conditions.ts'
import { formatDuration } from '../core/duration.ts'
import { Bridge } from '../bridge/bridge.ts'
import { runHear } from './steps/hear.ts'
import { Observer } from './observer.ts'
import { describeStep, type ConditionReport, type ReplyTally, type ScenarioReport, type StepReport } from './report.ts'
import { isBrokerUrl, type CheckStep, type CommandStep, type Condition, type DesiredStep, type Scenario, type Step } from './schema.ts'
import { deviceSelector } from './select.ts'

export interface RunOptions {
  /** Overrides the file's broker: `embedded` or `mqtt://host:port`. */
  broker?: string
  /** The embedded broker's TCP port (default 0: any free port; the URL is reported in the `broker` progress event). */
  port?: number
  /** The embedded broker's host (default 127.0.0.1). */
  host?: string
  /** Overrides the file's seed. */
  seed?: number
  /** Overrides the file's speed. */
  speed?: number
  /** Structured logs (broker, devices, runner). Default silent. */
  logger?: Logger
  onProgress?: (event: ProgressEvent) => void
  /** Abort (Ctrl-C): stop the devices, close the broker, resolve with a report whose result is `aborted`. */
  signal?: AbortSignal
}

export type ProgressEvent =
  | { type: 'broker'; url: string | undefined; embedded: boolean }
  | { type: 'connecting'; online: number; total: number }
  | { type: 'online'; devices: number; ms: number }
  | { type: 'step'; index: number; line: number | undefined; atMs: number; status: 'passed' | 'failed' | 'done'; description: string; detail?: string }
  | { type: 'tick'; elapsedMs: number; durationMs: number; messages: number }
  | { type: 'expectation'; description: string; status: 'passed' | 'failed'; detail: string }

/** How often a check step with `within` looks again. */
const POLL_MS = 100
const TICK_MS = 1000

/** Thrown inside the runner when the signal fires; never escapes it. */
class RunAborted extends Error {}

/**
 * `p`, or a RunAborted as soon as the signal fires: a broker that accepts TCP but never answers must not hold
 * Ctrl-C for a whole connect time-out. The abandoned `p` is settled by the teardown (which ends its client).
 */
function untilAborted<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  p.catch(() => undefined)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(new RunAborted()) }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e instanceof Error ? e : new Error(String(e))) }
    )
  })
}

interface Resources {
  broker: EmbeddedBroker | undefined
  observer: Observer | undefined
  controller: MqttClient | undefined
  commander: Commander | undefined
  fleet: Fleet | undefined
  /** The voice bridge, started next to the fleet when the timeline has `hear:` steps. */
  bridge: Bridge | undefined
  /** Devices given a retained desired state on an external broker: cleared at the end. */
  desiredTouched: Set<string>
  topics: Topics
  /** New in-process connections are refused once tear-down begins (they get a `refusedStream`: a device whose start was under way when the run was aborted may connect after the fleet was stopped). */
  gate: { open: boolean }
}

function validateRunOptions (o: RunOptions): void {
  const c = new IssueCollector()
  if (o.broker !== undefined && o.broker !== 'embedded' && !isBrokerUrl(o.broker)) c.add('broker', `must be embedded or a broker URL such as mqtt://localhost:1883, got ${JSON.stringify(o.broker)}`)
  c.integer('port', o.port, 0, 65535)
  c.string('host', o.host)
  c.integer('seed', o.seed, 0, 0xffff_ffff)
  c.number('speed', o.speed, 0.001, 100)
  c.throwIfAny('run')
}

/**
 * Run a scenario to the end and report. Resolves with the report (result `passed`, `failed` or `aborted`);
 * rejects with a FleetError when the run cannot happen at all: FLEET_ERR_BROKER_UNREACHABLE / _REFUSED (exit 3),
 * FLEET_ERR_PORT_IN_USE, FLEET_ERR_OPTIONS_INVALID. Whatever was opened is closed before it settles.
 *
 * @example
 * const report = await runScenario(await loadScenarioFile('smoke.yaml'), { onProgress: (e) => console.log(e) })
 * console.log(formatReport(report))
 * process.exitCode = report.result === 'passed' ? 0 : 1
 */
export async function runScenario (scenario: Scenario, options: RunOptions = {}): Promise<ScenarioReport> {
  validateRunOptions(options)
  const seed = options.seed ?? scenario.seed
  const speed = options.speed ?? scenario.speed
  const brokerSetting = options.broker ?? scenario.broker
  // The timeline's many waits listen on a fanned-out signal, not on the caller's (core/clock.ts, fanOutSignal).
  const fan = fanOutSignal(options.signal)
  const signal = fan.signal
  const logger = (options.logger ?? silentLogger).child({ part: 'scenario', scenario: scenario.name })
  const specs = planFleet(scenario.fleet)
  const topics = createTopics(scenario.prefix)
  const byKind: Record<string, number> = {}
  for (const s of specs) byKind[s.kind] = (byKind[s.kind] ?? 0) + 1

  const emit = (event: ProgressEvent): void => {
    try { options.onProgress?.(event) } catch (err) { logger.warn({ err }, 'onProgress threw; ignored') }
  }
  const startedAt = new Date()
  const t0 = performance.now()
  const res: Resources = { broker: undefined, observer: undefined, controller: undefined, commander: undefined, fleet: undefined, bridge: undefined, desiredTouched: new Set(), topics, gate: { open: true } }
  const steps: StepReport[] = scenario.timeline.map((s) => ({
    index: s.index, line: s.line, kind: s.kind, atMs: s.atMs, description: describeStep(s), status: 'skipped', detail: undefined,
    startedMs: undefined, tookMs: undefined, devices: undefined, replies: undefined, conditions: undefined
  }))
  const report: ScenarioReport = {
    result: 'passed',
    name: scenario.name,
    description: scenario.description,
    file: scenario.file,
    seed,
    speed,
    startTime: scenario.startTime === 'now' ? 'now' : new Date(scenario.startTime).toISOString(),
    startedAt: startedAt.toISOString(),
    durationMs: 0,
    timelineMs: 0,
    broker: brokerSetting,
    embeddedBroker: brokerSetting === 'embedded',
    prefix: scenario.prefix,
    fleet: { devices: specs.length, byKind, onlineMs: 0 },
    steps,
    finalChecks: [],
    expectations: { passed: 0, failed: 0 },
    traffic: { messages: 0, bytes: 0, telemetry: 0, events: 0, status: 0, reported: 0, desired: 0, commands: 0, replies: 0, logs: 0, info: 0, other: 0, retainedAtStart: 0, topics: 0 },
    deviceCounters: undefined,
    abortReason: undefined
  }
  const checkAbort = (): void => { if (signal?.aborted === true) throw new RunAborted() }

  try {
    checkAbort()
    // ---- broker
    let target: BrokerTarget
    if (brokerSetting === 'embedded') {
      const broker = await createBroker({ port: options.port ?? 0, host: options.host ?? '127.0.0.1', logger: options.logger ?? silentLogger })
      res.broker = broker
      const gate = res.gate
      target = { stream: () => (gate.open ? broker.connectInProcess() : refusedStream('the scenario run is closing: no new connections')), label: `embedded broker${broker.url === undefined ? '' : ` ${broker.url}`}` }
      report.broker = `embedded ${broker.url ?? '(in-process)'}`
      emit({ type: 'broker', url: broker.url, embedded: true })
    } else {
      target = { url: brokerSetting }
      emit({ type: 'broker', url: brokerSetting, embedded: false })
    }
    checkAbort()

    // ---- observer and controller: connected before the fleet, so they see every device's first message
    const observer = new Observer({ target, topics })
    res.observer = observer // the teardown stops it, even half-started
    await untilAborted(observer.start(), signal)
    checkAbort()
    const controller = createMqttClient(target, { clientId: `homefleet-runner-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, clean: true, reconnectPeriod: 1000 })
    res.controller = controller
    controller.on('error', (err) => { logger.debug({ err: err.message }, 'controller mqtt error') })
    await untilAborted(waitConnected(controller, target), signal)
    res.commander = new Commander(controller, topics)
    checkAbort()

    // ---- fleet
    const fleet = new Fleet(specs, {
      target,
      prefix: scenario.prefix,
      seed,
      clock: scenario.startTime === 'now' ? new ScaledClock(speed) : new ScaledClock(speed, scenario.startTime),
      logger: options.logger ?? silentLogger,
      ...(scenario.connectRate === undefined ? {} : { connectRate: scenario.connectRate })
    })
    res.fleet = fleet
    emit({ type: 'connecting', online: 0, total: fleet.size })
    const started = await fleet.start({ onProgress: (online, total) => { emit({ type: 'connecting', online, total }) }, ...(signal === undefined ? {} : { signal }) })
    report.fleet.onlineMs = Math.round(started.ms)
    emit({ type: 'online', devices: started.devices, ms: Math.round(started.ms) })
    logger.info({ devices: started.devices, ms: Math.round(started.ms) }, 'fleet online')
    checkAbort()
    if (scenario.timeline.some((st) => st.kind === 'hear')) {
      // The voice bridge, as `fleet bridge` would run it: it learns the home from the bus like any other client.
      const starting = Bridge.start({ target, prefix: scenario.prefix, logger: options.logger ?? silentLogger })
      // Aborted while it starts: stop it once it has (the tear-down no longer knows it).
      starting.then((b) => { if (signal?.aborted === true) void b.stop() }, () => undefined)
      res.bridge = await untilAborted(starting, signal)
      checkAbort()
    }

    // ---- timeline
    const ctx: ConditionContext = { specs, observer }
    const tOnline = performance.now()
    await playTimeline(scenario, { res, ctx, fleet, tOnline, signal, emit, steps, report, logger })
    report.timelineMs = Math.round(performance.now() - tOnline)
    checkAbort()

    // ---- final expectations, while the fleet is still up
    for (const c of scenario.expect) {
      const r = checkOnce(c, ctx)
      report.finalChecks.push(r)
      if (r.status === 'passed') report.expectations.passed++
      else report.expectations.failed++
      emit({ type: 'expectation', description: r.description, status: r.status, detail: r.detail })
    }
  } catch (err) {
    if (signal?.aborted === true) {
      report.result = 'aborted'
      report.abortReason = abortReason(signal)
    } else {
      fan.dispose()
      await teardown(res, logger)
      throw err
    }
  }
  fan.dispose()
  if (res.observer !== undefined) report.traffic = { ...res.observer.traffic, topics: res.observer.topicCounts.size }
  if (res.fleet !== undefined) report.deviceCounters = res.fleet.counters()
  await teardown(res, logger)
  if (report.result !== 'aborted') {
    report.result = report.expectations.failed > 0 || steps.some((s) => s.status === 'failed') ? 'failed' : 'passed'
  }
  report.durationMs = Math.round(performance.now() - t0)
  logger.info({ result: report.result, ms: report.durationMs }, 'scenario finished')
  return report
}

function abortReason (signal: AbortSignal): string {
  const r: unknown = signal.reason
  if (r instanceof Error) return r.name === 'AbortError' ? 'aborted' : r.message
  return typeof r === 'string' ? r : 'aborted'
}

/** Close in reverse order of opening; never throws (a failure to close is logged). */
async function teardown (res: Resources, logger: Logger): Promise<void> {
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    try { await fn() } catch (err) { logger.warn({ err, what }, 'tear-down step failed') }
  }
  const { commander, fleet, controller, observer, broker, bridge } = res
  res.gate.open = false
  res.bridge = undefined
  if (bridge !== undefined) await step('bridge', () => bridge.stop())
  res.commander = undefined
  res.fleet = undefined
  res.controller = undefined
  res.observer = undefined
  res.broker = undefined
  if (commander !== undefined) await step('commander', () => { commander.close() })
  if (fleet !== undefined) await step('fleet', () => fleet.stop())
  if (controller !== undefined) {
    // On an external broker a retained desired state would reach the next run's devices: clear it [MQTT-3.3.1-10].
    if (broker === undefined && controller.connected && res.desiredTouched.size > 0) {
      await step('desired state', () => Promise.all([...res.desiredTouched].map((id) => controller.publishAsync(res.topics.desired(id), '', { qos: 1, retain: true }))))
    }
    await step('controller', () => endClient(controller, !controller.connected))
  }
  if (observer !== undefined) await step('observer', () => observer.stop())
  if (broker !== undefined) await step('broker', () => broker.close())
  // After an abort during start-up, a device whose connection was under way may have come online after the first
  // stop (on an external broker, where there is no gate to refuse it): stop the stragglers too.
  if (fleet !== undefined && fleet.devices.some((d) => d.connected)) await step('fleet stragglers', () => fleet.stop())
}

// ---- the timeline ---------------------------------------------------------------------------------------------

interface TimelineContext {
  res: Resources
  ctx: ConditionContext
  fleet: Fleet
  tOnline: number
  signal: AbortSignal | undefined
  emit: (e: ProgressEvent) => void
  steps: StepReport[]
  report: ScenarioReport
  logger: Logger
}

async function playTimeline (scenario: Scenario, t: TimelineContext): Promise<void> {
  const { signal, tOnline } = t
  const elapsed = (): number => performance.now() - tOnline
  const ticker = setInterval(() => {
    t.emit({ type: 'tick', elapsedMs: Math.round(elapsed()), durationMs: scenario.durationMs, messages: t.ctx.observer.traffic.messages })
  }, TICK_MS)
  // On abort, commands still waiting for replies give up at once (they reject with FLEET_ERR_CLOSED).
  const onAbort = (): void => { t.res.commander?.close() }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const byTime = new Map<number, Step[]>()
    for (const s of scenario.timeline) {
      const list = byTime.get(s.atMs)
      if (list === undefined) byTime.set(s.atMs, [s])
      else list.push(s)
    }
    const groups = [...byTime.entries()].map(async ([atMs, group]) => {
      await delay(atMs - elapsed(), signal)
      for (const s of group) {
        if (signal?.aborted === true) return
        await runStep(s, t)
      }
    })
    await Promise.all([...groups, delay(scenario.durationMs - elapsed(), signal)])
  } finally {
    clearInterval(ticker)
    signal?.removeEventListener('abort', onAbort)
  }
}

async function runStep (step: Step, t: TimelineContext): Promise<void> {
  const r = t.steps[step.index] as StepReport
  const started = performance.now()
  r.startedMs = Math.round(started - t.tOnline)
  try {
    switch (step.kind) {
      case 'command': await runCommand(step, r, t); break
      case 'desired': await runDesired(step, r, t); break
      case 'note': r.status = 'done'; break
      case 'check': await runCheck(step, r, t); break
      case 'hear': await runHear(step, t.res.bridge, r); break
    }
  } catch (err) {
    // A step's own failure (a publish refused, a closed client) fails the step, not the run.
    r.status = 'failed'
    r.detail = isFleetError(err) ? `${err.code}: ${err.message}` : (err as Error).message
    t.logger.warn({ err, step: step.index }, 'step failed')
  }
  r.tookMs = Math.round(performance.now() - started)
  if (t.signal?.aborted === true && step.kind !== 'note') {
    // Interrupted half-way: its outcome means nothing (an abort closes the controller, so pending replies fail).
    r.status = 'skipped'
    r.detail = 'interrupted: the run was aborted'
    r.conditions = undefined
    return
  }
  for (const c of r.conditions ?? []) {
    if (c.status === 'passed') t.report.expectations.passed++
    else t.report.expectations.failed++
  }
  const status = r.status === 'skipped' ? 'done' : r.status
  t.emit({ type: 'step', index: step.index, line: step.line, atMs: step.atMs, status, description: r.description, ...(r.detail === undefined ? {} : { detail: r.detail }) })
}

function selected (step: { target: CommandStep['target'] }, fleet: Fleet): Device[] {
  return fleet.select(deviceSelector(step.target))
}

async function runCommand (step: CommandStep, r: StepReport, t: TimelineContext): Promise<void> {
  const commander = t.res.commander
  if (commander === undefined) throw new FleetError('FLEET_ERR_CLOSED', 'the controller is closed')
  const devices = selected(step, t.fleet)
  r.devices = devices.length
  const outcomes = await Promise.all(devices.map(async (d): Promise<{ id: string; reply?: CommandReply; err?: unknown }> => {
    try {
      return { id: d.id, reply: await commander.send(d.id, step.command, step.args, step.timeoutMs) }
    } catch (err) {
      return { id: d.id, err }
    }
  }))
  const tally: ReplyTally = { ok: 0, errors: {}, timeouts: 0 }
  const wrong: string[] = []
  const timedOut: string[] = []
  let firstOk: Record<string, unknown> | undefined
  let firstError: { code: string; message: string } | undefined
  const failedToSend: string[] = []
  for (const o of outcomes) {
    if (o.reply === undefined) {
      // Only a real time-out is "did not reply"; a refused publish or a closed controller says what it was.
      if (isFleetError(o.err) && o.err.code === 'FLEET_ERR_COMMAND_TIMEOUT') {
        tally.timeouts++
        timedOut.push(o.id)
      } else {
        failedToSend.push(`${o.id} (${isFleetError(o.err) ? o.err.code : (o.err as Error).message})`)
      }
      continue
    }
    const reply = o.reply
    if (typeof reply !== 'object' || reply === null || typeof reply.ok !== 'boolean' || (!reply.ok && typeof reply.error?.code !== 'string')) {
      failedToSend.push(`${o.id} (a reply that is not {ok, result | error: {code, message}})`)
      continue
    }
    if (reply.ok) {
      tally.ok++
      firstOk ??= reply.result
      if (step.expect !== 'ok' && step.expect !== 'any') wrong.push(`${o.id} (ok)`)
    } else {
      tally.errors[reply.error.code] = (tally.errors[reply.error.code] ?? 0) + 1
      firstError ??= reply.error
      if (step.expect === 'ok' || (step.expect !== 'any' && step.expect !== reply.error.code)) wrong.push(`${o.id} (${reply.error.code}: ${reply.error.message})`)
    }
  }
  r.replies = tally
  const n = devices.length
  const parts: string[] = []
  if (tally.ok > 0) parts.push(n === 1 && firstOk !== undefined && Object.keys(firstOk).length > 0 ? `ok ${JSON.stringify(firstOk)}` : `${tally.ok} ok`)
  for (const [code, count] of Object.entries(tally.errors)) {
    parts.push(n === 1 && firstError !== undefined ? `${code}: ${firstError.message}` : `${count} ${code}`)
  }
  const problems: string[] = []
  if (wrong.length > 0) problems.push(`expected ${step.expect}, got ${list(wrong)}`)
  if (timedOut.length > 0) problems.push(`${timedOut.length} of ${n} did not reply within ${formatDuration(step.timeoutMs)}: ${list(timedOut)}`)
  if (failedToSend.length > 0) problems.push(`${failedToSend.length} of ${n} failed: ${list(failedToSend)}`)
  r.status = problems.length === 0 ? 'passed' : 'failed'
  r.detail = problems.length === 0 ? parts.join(', ') : problems.join('; ')
}

/** Versions increase across runs too (an external broker keeps the last retained desired state). */
let lastVersion = 0
function nextVersion (): number {
  lastVersion = Math.max(lastVersion + 1, Date.now())
  return lastVersion
}

async function runDesired (step: DesiredStep, r: StepReport, t: TimelineContext): Promise<void> {
  const controller = t.res.controller
  if (controller === undefined) throw new FleetError('FLEET_ERR_CLOSED', 'the controller is closed')
  const devices = selected(step, t.fleet)
  r.devices = devices.length
  const version = nextVersion()
  const payload = JSON.stringify({ ...step.desired, $version: version })
  await Promise.all(devices.map((d) => {
    t.res.desiredTouched.add(d.id)
    return controller.publishAsync(t.res.topics.desired(d.id), payload, { qos: 1, retain: true })
  }))
  r.status = 'done'
  r.detail = `published to ${devices.length === 1 ? (devices[0] as Device).id : `${devices.length} devices`} ($version ${version})`
}

function checkOnce (c: Condition, ctx: ConditionContext): ConditionReport {
  const o = evaluateCondition(c, ctx)
  return { description: describeCondition(c), path: c.path, line: c.line, status: o.ok ? 'passed' : 'failed', detail: o.detail }
}

async function runCheck (step: CheckStep, r: StepReport, t: TimelineContext): Promise<void> {
  const started = performance.now()
  const deadline = started + step.withinMs
  let results: ConditionReport[]
  for (;;) {
    results = step.conditions.map((c) => checkOnce(c, t.ctx))
    if (results.every((x) => x.status === 'passed') || performance.now() >= deadline || t.signal?.aborted === true) break
    await delay(Math.min(POLL_MS, deadline - performance.now()), t.signal)
  }
  r.conditions = results
  const ok = results.every((x) => x.status === 'passed')
  r.status = ok ? 'passed' : 'failed'
  const waited = performance.now() - started
  const suffix = step.withinMs === 0 ? '' : ok ? (waited >= POLL_MS ? ` (after ${formatDuration(waited)})` : '') : ` (still not true after ${formatDuration(step.withinMs)})`
  const failed = results.filter((x) => x.status === 'failed')
  r.detail = results.length === 1
    ? `${(results[0] as ConditionReport).detail}${suffix}`
    : ok
      ? `all ${results.length} conditions hold${suffix}`
      : `${failed.length} of ${results.length} conditions failed${suffix}: ${failed.map((x) => `${x.description}: ${x.detail}`).join('; ')}`
}
