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
 *
 * No run hangs: every wait is bounded and named. Commands have their time-out, checks their `within`, publishes and
 * the tear-down their own bounds, and a watchdog ends a timeline that outlives its bound: its duration, or the
 * time-outs and withins of the steps of one `at` added up (they run one after another). A broker that goes away is
 * reconnected to with backoff for `brokerGraceMs`; past that the run ends with result `broker-lost` (exit 3). A
 * command that went out while its device was away or resubscribing is sent again when the device announces `online`.
 *
 * Runs are isolated: each has an id (in every client id of the runner and the report), the devices' client ids carry
 * the prefix, the observer ignores retained state from before the run, and on a shared broker each run announces
 * itself under its prefix (`{p}/.run/{runId}`, retained, withdrawn by its end or its last will): a run that finds
 * another one live there refuses to start (FLEET_ERR_RUN_CONFLICT) instead of taking its devices over.
 */
import type { MqttClient } from 'mqtt'
import { setMaxListeners } from 'node:events'
import { availableParallelism, hostname } from 'node:os'
import { delay, ScaledClock } from '../core/clock.ts'
import { Commander, type CommandReply } from '../core/commander.ts'
import { FleetError, isFleetError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import { createMqttClient, describeTarget, endClient, reconnectWithBackoff, refusedStream, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'
import { IssueCollector } from '../core/options.ts'
import { checkPrefix, createTopics, type Topics } from '../core/topics.ts'
import { createBroker } from '../broker/broker.ts'
import { createThreadBroker, type BrokerHandle } from '../broker/thread.ts'
import type { Device } from '../devices/device.ts'
import { Fleet, planFleet } from '../devices/fleet.ts'
import { evaluateCondition, describeCondition, list, observerMissed, type ConditionContext, type DeviceTruth } from './conditions.ts'
import { formatDuration } from '../core/duration.ts'
import { Bridge } from '../bridge/bridge.ts'
import { runHear } from './steps/hear.ts'
import { Observer, observerClientIds, RUN_LEVEL } from './observer.ts'
import { describeStep, observerNote, type ConditionReport, type ReplyTally, type ScenarioReport, type StepReport } from './report.ts'
import { isBrokerUrl, type CheckStep, type CommandStep, type Condition, type DesiredStep, type Scenario, type Step } from './schema.ts'
import { runRollouts, type RunRollouts } from './rollout.ts'
import { deviceSelector } from './select.ts'
import { boundedMap } from './fan-out.ts'

export interface RunOptions {
  /** Overrides the file's broker: `embedded` or `mqtt://host:port`. */
  broker?: string
  /** The embedded broker's TCP port (default 0: any free port; the URL is reported in the `broker` progress event). */
  port?: number
  /** The embedded broker's host (default 127.0.0.1). */
  host?: string
  /**
   * Run the embedded broker in a thread of its own (broker/thread.ts), so the broker's side of every connection and
   * the devices' side run on two cores: `auto` (the default) does so for fleets of {@link BROKER_THREAD_MIN_DEVICES}
   * devices or more on a machine with at least two cores; `on` always; `off` never (the broker shares the run's
   * thread).
   */
  brokerThread?: 'auto' | 'on' | 'off'
  /** Overrides the file's seed. */
  seed?: number
  /** Overrides the file's speed. */
  speed?: number
  /** Overrides the file's topic prefix: runs with different prefixes share a broker without meeting. */
  prefix?: string
  /** How long the observer, the controller and each device wait for the broker's CONNACK (default 10 000 ms). */
  connectTimeoutMs?: number
  /**
   * How long a broker that went away mid-run is waited for (reconnecting with backoff) before the run ends with
   * result `broker-lost` (default {@link DEFAULT_BROKER_GRACE_MS}).
   */
  brokerGraceMs?: number
  /**
   * Clear the fleet's retained topics on an external broker: `before` the run (every retained message under the
   * prefix, left by earlier runs), `after` it (what this run's devices left), or `both`. Default: neither.
   */
  clearRetained?: 'before' | 'after' | 'both'
  /** The run's id (default: made from the time and a random part). */
  runId?: string
  /** Structured logs (broker, devices, runner). Default silent. */
  logger?: Logger
  onProgress?: (event: ProgressEvent) => void
  /** Abort (Ctrl-C): stop the devices, close the broker, resolve with a report whose result is `aborted`. */
  signal?: AbortSignal
  /**
   * Run the rollout service with its state in this directory, and give every device the update agent
   * (scenarios/rollout.ts; docs/rollouts.md). Default: no rollouts.
   */
  dataDir?: string
}

export type ProgressEvent =
  | { type: 'broker'; url: string | undefined; embedded: boolean }
  | { type: 'broker-lost'; url: string; graceMs: number }
  | { type: 'broker-back'; url: string; downMs: number }
  | { type: 'connecting'; online: number; total: number }
  | { type: 'online'; devices: number; ms: number }
  | { type: 'step'; index: number; line: number | undefined; atMs: number; status: 'passed' | 'failed' | 'inconclusive' | 'done'; description: string; detail?: string }
  | { type: 'tick'; elapsedMs: number; durationMs: number; messages: number; online?: number }
  | { type: 'expectation'; description: string; status: 'passed' | 'failed' | 'inconclusive'; detail: string }

/** Fleets at least this large get the embedded broker in a thread of its own when `brokerThread` is `auto`. */
export const BROKER_THREAD_MIN_DEVICES = 2000

/**
 * The QoS 0 queue the embedded broker keeps for the run's own observer before it drops messages to it (other
 * subscribers keep the broker's default, 1 MiB). The observer's losses would make a verdict inconclusive; on a machine
 * saturated by a large fleet (the observer shares the devices' thread) it can fall seconds behind, and a second of a
 * 100,000-device fleet's telemetry is about 2 MB.
 */
export const OBSERVER_QUEUE_BYTES = 256 * 1024 * 1024

/** How often a check step with `within` looks again. */
const POLL_MS = 100
const TICK_MS = 1000
/** How long a broker that went away may stay away before the run ends (exit 3). */
export const DEFAULT_BROKER_GRACE_MS = 10_000
/** Requests of one step in flight at once: commands awaiting their reply, desired-state and retained-clearing publishes awaiting their PUBACK. */
export const FAN_OUT_WINDOW = 100
/** Bound on one tear-down part (the fleet's stop, the observer's, the broker's close). */
const TEARDOWN_STEP_MS = 10_000
/** Bound on a batch of QoS 1 publishes (desired state, clearing retained topics). */
const PUBLISH_BATCH_MS = 10_000
/** Before the final checks, how long the observer may take to catch up with what the devices say they sent. */
const SETTLE_MS = 3000
/** How long the runner waits to see its own announcement come back (another run's would have come before it). */
const PROBE_MS = 3000
/** How long a run whose announcement is found has to answer a probe before the announcement is taken as stale. */
const LIVENESS_MS = 5000
/** Slack on top of the timeline's bound (its duration, or its steps' time-outs and withins added up per `at`). */
const WATCHDOG_SLACK_MS = 5000

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
  broker: BrokerHandle | undefined
  /** Retained topics to clear when the run ends (`clearRetained` after/both on an external broker). */
  clearAfter: boolean
  /** The run's announcement topic on a shared broker, withdrawn at the end. */
  announced: string | undefined
  observer: Observer | undefined
  controller: MqttClient | undefined
  commander: Commander | undefined
  fleet: Fleet | undefined
  /** The voice bridge, started next to the fleet when the timeline has `hear:` steps. */
  bridge: Bridge | undefined
  rollouts: RunRollouts | undefined
  /** Commands this run sent to each device, to compare with the device's own count of commands it answered. */
  commandsSent: Map<string, number>
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
  c.string('prefix', o.prefix)
  if (o.prefix !== undefined) { try { checkPrefix(o.prefix) } catch (err) { c.add('prefix', (err as Error).message) } }
  c.integer('connectTimeoutMs', o.connectTimeoutMs, 1, 600_000)
  c.integer('brokerGraceMs', o.brokerGraceMs, 0, 3_600_000)
  c.oneOf('clearRetained', o.clearRetained, ['before', 'after', 'both'])
  c.oneOf('brokerThread', o.brokerThread, ['auto', 'on', 'off'])
  c.string('runId', o.runId)
  c.throwIfAny('run')
}

/**
 * Run a scenario to the end and report. Resolves with the report: result `passed`, `failed`, `inconclusive` (an
 * expectation could not be checked because the observer missed messages; never a device failure, never a pass),
 * `aborted`, or `broker-lost` (the broker went away for longer than the grace period). Rejects with a FleetError
 * when the run cannot happen at all: FLEET_ERR_BROKER_UNREACHABLE / _REFUSED and FLEET_ERR_RUN_CONFLICT (exit 3),
 * FLEET_ERR_PORT_IN_USE, FLEET_ERR_OPTIONS_INVALID. Whatever was opened is closed before it settles.
 *
 * @example
 * const report = await runScenario(await loadScenarioFile('smoke.yaml'), { onProgress: (e) => console.log(e) })
 * console.log(formatReport(report))
 * process.exitCode = exitCodeOf(report)
 */
export async function runScenario (scenario: Scenario, options: RunOptions = {}): Promise<ScenarioReport> {
  validateRunOptions(options)
  if (options.prefix !== undefined) scenario = withPrefix(scenario, options.prefix)
  const seed = options.seed ?? scenario.seed
  const speed = options.speed ?? scenario.speed
  const brokerSetting = options.broker ?? scenario.broker
  const prefix = options.prefix ?? scenario.prefix
  const runId = options.runId ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  const graceMs = options.brokerGraceMs ?? DEFAULT_BROKER_GRACE_MS
  // One signal for the whole run: the caller's abort, a broker lost past its grace period, or the watchdog.
  const stop = new AbortController()
  setMaxListeners(0, stop.signal)
  const relay = (): void => { stop.abort(options.signal?.reason) }
  if (options.signal?.aborted === true) relay()
  else options.signal?.addEventListener('abort', relay, { once: true })
  const signal = stop.signal
  const logger = (options.logger ?? silentLogger).child({ part: 'scenario', scenario: scenario.name, runId })
  const specs = planFleet(scenario.fleet)
  const topics = createTopics(prefix)
  const byKind: Record<string, number> = {}
  for (const s of specs) byKind[s.kind] = (byKind[s.kind] ?? 0) + 1

  const emit = (event: ProgressEvent): void => {
    try { options.onProgress?.(event) } catch (err) { logger.warn({ err }, 'onProgress threw; ignored') }
  }
  const startedAt = new Date()
  const t0 = performance.now()
  const res: Resources = { broker: undefined, clearAfter: false, announced: undefined, observer: undefined, controller: undefined, commander: undefined, fleet: undefined, bridge: undefined, rollouts: undefined, commandsSent: new Map(), desiredTouched: new Set(), topics, gate: { open: true } }
  const steps: StepReport[] = scenario.timeline.map((s) => ({
    index: s.index, line: s.line, kind: s.kind, atMs: s.atMs, description: describeStep(s), status: 'skipped', detail: undefined,
    startedMs: undefined, tookMs: undefined, devices: undefined, replies: undefined, conditions: undefined
  }))
  const report: ScenarioReport = {
    result: 'passed',
    runId,
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
    prefix,
    fleet: { devices: specs.length, byKind, onlineMs: 0 },
    steps,
    finalChecks: [],
    expectations: { passed: 0, failed: 0, inconclusive: 0 },
    traffic: { messages: 0, bytes: 0, telemetry: 0, events: 0, status: 0, reported: 0, desired: 0, commands: 0, replies: 0, logs: 0, info: 0, other: 0, retainedAtStart: 0, topics: 0 },
    observer: undefined,
    deviceCounters: undefined,
    abortReason: undefined,
    brokerLost: undefined
  }
  const checkAbort = (): void => { if (signal.aborted) throw new RunAborted() }
  let unwatch = (): void => undefined
  let watchdog: NodeJS.Timeout | undefined
  let ctx: ConditionContext | undefined

  try {
    checkAbort()
    // ---- broker
    const clientStem = `homefleet-${slugOf(prefix)}-${runId}`
    const observerId = `${clientStem}-observer`
    let target: BrokerTarget
    if (brokerSetting === 'embedded') {
      const brokerOptions = { port: options.port ?? 0, host: options.host ?? '127.0.0.1', logger: options.logger ?? silentLogger, subscriberQueueBytesById: Object.fromEntries(observerClientIds(observerId).map((id) => [id, OBSERVER_QUEUE_BYTES])) }
      const mode = options.brokerThread ?? 'auto'
      const threaded = mode === 'on' || (mode === 'auto' && specs.length >= BROKER_THREAD_MIN_DEVICES && availableParallelism() >= 2)
      const broker = threaded ? await createThreadBroker(brokerOptions) : await createBroker(brokerOptions)
      res.broker = broker
      logger.info({ threaded, devices: specs.length }, threaded ? 'embedded broker in a thread of its own' : 'embedded broker in the run\'s thread')
      const gate = res.gate
      target = { stream: () => (gate.open ? broker.connectInProcess() : refusedStream('the scenario run is closing: no new connections')), label: `embedded broker${broker.url === undefined ? '' : ` ${broker.url}`}` }
      report.broker = `embedded ${broker.url ?? '(in-process)'}${threaded ? ' (in its own thread)' : ''}`
      emit({ type: 'broker', url: broker.url, embedded: true })
    } else {
      target = { url: brokerSetting }
      emit({ type: 'broker', url: brokerSetting, embedded: false })
    }
    checkAbort()

    // ---- observer and controller: connected before the fleet, so they see every device's first message
    const observer = new Observer({ target, topics, clientId: observerId, connectTimeoutMs, runId })
    res.observer = observer // the teardown stops it, even half-started
    await untilAborted(observer.start(), signal)
    checkAbort()
    const external = res.broker === undefined
    const announcement: RunAnnouncement = { runId, scenario: scenario.name, host: hostname(), pid: process.pid, startedAt: startedAt.toISOString() }
    const controller = createMqttClient(target, {
      clientId: `${clientStem}-runner`,
      clean: true,
      reconnectPeriod: 250,
      connectTimeout: connectTimeoutMs,
      // Should this process vanish, the broker withdraws its announcement: an empty retained will [MQTT-3.1.2-8].
      ...(external ? { will: { topic: runTopic(prefix, runId), payload: Buffer.alloc(0), qos: 1 as const, retain: true } } : {})
    })
    res.controller = controller
    reconnectWithBackoff(controller, { initialMs: 250, maxMs: 2000 })
    controller.on('error', (err) => { logger.debug({ err: err.message }, 'controller mqtt error') })
    await untilAborted(waitConnected(controller, target, connectTimeoutMs), signal)
    const commander = res.commander = new Commander(controller, topics)
    // A command published while its device was reconnecting (after a broker outage, a reboot) reached nobody: the
    // device had no subscription yet. Devices announce `online` only once subscribed, so when one does, whatever it
    // has not answered is sent again, with the same request id (a device does not run one it has run already: it
    // answers with the reply it gave).
    observer.onOnline((id) => {
      const n = commander.resend(id)
      if (n > 0) logger.info({ deviceId: id, commands: n }, 'device online again: unanswered commands sent again')
    })
    await untilAborted(withTimeout(commander.ready(), connectTimeoutMs, `subscribing to replies on ${describeTarget(target)}`), signal)
    checkAbort()

    if (external) {
      // ---- isolation on a shared broker: another live run under this prefix, and retained state from before
      res.announced = runTopic(prefix, runId)
      await untilAborted(answerProbes(controller, announcement, prefix), signal)
      await untilAborted(refuseLiveRun(observer, controller, announcement, prefix, describeTarget(target), logger), signal)
      if (options.clearRetained === 'before' || options.clearRetained === 'both') {
        const cleared = await untilAborted(clearRetained(controller, observer.retainedTopics), signal)
        logger.info({ topics: cleared }, 'cleared retained topics from before the run')
      }
      res.clearAfter = options.clearRetained === 'after' || options.clearRetained === 'both'
    }

    // ---- the broker watch: a lost broker gets `graceMs` to come back, then the run ends (exit 3)
    unwatch = watchBroker(observer, graceMs, describeTarget(target), emit, (lost) => {
      report.brokerLost = lost.message
      stop.abort(lost)
    })

    // ---- rollouts (with --data-dir): the service on the run's broker and clock, the agent on every device
    const fleetClock = scenario.startTime === 'now' ? new ScaledClock(speed) : new ScaledClock(speed, scenario.startTime)
    if (options.dataDir !== undefined || scenario.usesRollouts) {
      res.rollouts = runRollouts({ dataDir: options.dataDir, prefix, clock: fleetClock, logger: logger.child({ part: 'rollout' }), settings: scenario.rollout, specs, connectTimeoutMs })
      await untilAborted(res.rollouts.start(target), signal)
    }

    // ---- fleet
    const fleet = new Fleet(specs, {
      // On a shared broker the devices' client ids carry the prefix, so two runs with different prefixes never take
      // each other's sessions over (the embedded broker is this run's alone).
      target: res.broker === undefined ? { ...target, clientIdPrefix: `${slugOf(prefix)}:` } : target,
      prefix,
      seed,
      clock: fleetClock,
      logger: options.logger ?? silentLogger,
      ...(res.rollouts === undefined ? {} : { capabilities: res.rollouts.capabilities }),
      connectTimeoutMs: Math.max(100, connectTimeoutMs),
      runId,
      ...(scenario.connectRate === undefined ? {} : { connectRate: scenario.connectRate })
    })
    res.fleet = fleet
    emit({ type: 'connecting', online: 0, total: fleet.size })
    const started = await fleet.start({ onProgress: (online, total) => { emit({ type: 'connecting', online, total }) }, signal })
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

    // ---- timeline, under a watchdog: its steps are bounded, and this bounds the whole
    const truth = (id: string): DeviceTruth | undefined => truthOf(fleet.get(id))
    ctx = { specs, observer, truth, ...(res.rollouts === undefined ? {} : { rollouts: res.rollouts.view }) }
    const tOnline = performance.now()
    const limitMs = timelineBoundMs(scenario) + WATCHDOG_SLACK_MS
    watchdog = setTimeout(() => { stop.abort(new Error(`the timeline did not end within ${formatDuration(limitMs)} (its duration, or its steps' time-outs and withins added up)`)) }, limitMs)
    await playTimeline(scenario, { res, ctx, fleet, tOnline, signal, emit, steps, report, logger })
    clearTimeout(watchdog)
    report.timelineMs = Math.round(performance.now() - tOnline)
    checkAbort()

    // ---- final expectations, while the fleet is still up, once the observer has caught up (bounded)
    if (scenario.expect.length > 0) await settle(ctx, signal)
    checkAbort()
    for (const c of scenario.expect) {
      const r = checkOnce(c, ctx)
      report.finalChecks.push(r)
      report.expectations[r.status]++
      emit({ type: 'expectation', description: r.description, status: r.status, detail: r.detail })
    }
  } catch (err) {
    if (signal.aborted) {
      report.result = report.brokerLost === undefined ? 'aborted' : 'broker-lost'
      report.abortReason = abortReason(signal)
    } else {
      clearTimeout(watchdog)
      unwatch()
      options.signal?.removeEventListener('abort', relay)
      await teardown(res, logger)
      throw err
    }
  }
  clearTimeout(watchdog)
  unwatch()
  options.signal?.removeEventListener('abort', relay)
  if (res.observer !== undefined) {
    report.traffic = { ...res.observer.traffic, topics: res.observer.topicCounts.size }
    const missed = ctx === undefined ? 0 : observerMissed(ctx)
    const sent = res.fleet === undefined ? 0 : res.fleet.counters().messagesOut
    report.observer = { missed, sent, reconnects: res.observer.health.reconnects, downMs: Math.round(res.observer.health.downMs), staleIgnored: res.observer.traffic.retainedAtStart, note: undefined }
    report.observer.note = observerNote(report)
  }
  if (res.fleet !== undefined) report.deviceCounters = res.fleet.counters()
  await teardown(res, logger)
  if (report.result === 'passed') {
    const failed = report.expectations.failed > 0 || steps.some((s) => s.status === 'failed')
    const inconclusive = report.expectations.inconclusive > 0 || steps.some((s) => s.status === 'inconclusive')
    report.result = failed ? 'failed' : inconclusive ? 'inconclusive' : 'passed'
  }
  report.durationMs = Math.round(performance.now() - t0)
  logger.info({ result: report.result, ms: report.durationMs }, 'scenario finished')
  return report
}

/** The exit code of a report: 0 passed, 1 failed or aborted, 3 broker lost, 4 inconclusive (docs/scenarios.md). */
export function exitCodeOf (report: Pick<ScenarioReport, 'result'>): number {
  switch (report.result) {
    case 'passed': return 0
    case 'broker-lost': return 3
    case 'inconclusive': return 4
    default: return 1
  }
}

function abortReason (signal: AbortSignal): string {
  const r: unknown = signal.reason
  if (r instanceof Error) return r.name === 'AbortError' ? 'aborted' : r.message
  return typeof r === 'string' ? r : 'aborted'
}

/**
 * The scenario under another topic prefix: `messages` filters written under the file's prefix (`home/+/events/spoke`)
 * move with it (`ci-7/+/events/spoke`), so the same file runs unchanged beside itself.
 */
function withPrefix (scenario: Scenario, prefix: string): Scenario {
  if (prefix === scenario.prefix) return scenario
  const from = `${scenario.prefix}/`
  const move = (c: Condition): Condition => (c.type === 'messages' && c.topic.startsWith(from) ? { ...c, topic: `${prefix}/${c.topic.slice(from.length)}` } : c)
  return {
    ...scenario,
    prefix,
    expect: scenario.expect.map(move),
    timeline: scenario.timeline.map((s) => (s.kind === 'check' ? { ...s, conditions: s.conditions.map(move) } : s))
  }
}

/** A client-id-safe form of the prefix (`lab/home` → `lab-home`), so two prefixes never share a client id. */
function slugOf (prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9_.-]/g, '-')
}

/** What a device says about itself, for the verdicts (scenarios/conditions.ts). */
function truthOf (d: Device | undefined): DeviceTruth | undefined {
  if (d === undefined) return undefined
  const c = d.counters
  return { connected: d.connected, sent: c.messagesOut, telemetrySent: c.telemetrySent, eventsSent: c.eventsSent, dropped: c.dropped, reported: () => ({ ...d.reportedState(), firmware: d.firmware }) }
}

/** The longest a step may take: a command's time-out, a check's `within`, a restart's time down and its stop and start. */
function stepBoundMs (s: Step): number {
  switch (s.kind) {
    case 'command': return Math.max(PUBLISH_BATCH_MS, s.timeoutMs)
    case 'check': return Math.max(PUBLISH_BATCH_MS, s.withinMs)
    case 'rollout': return s.downMs + 2 * TEARDOWN_STEP_MS
    default: return PUBLISH_BATCH_MS
  }
}

/**
 * When the timeline must have ended: its duration, or the end of the latest group of steps run one after another
 * (the steps of one `at` run in sequence, so their bounds add up).
 */
function timelineBoundMs (scenario: Scenario): number {
  const groups = new Map<number, number>()
  for (const s of scenario.timeline) groups.set(s.atMs, (groups.get(s.atMs) ?? 0) + stepBoundMs(s))
  let end = scenario.durationMs
  for (const [at, sum] of groups) end = Math.max(end, at + sum)
  return end
}

/**
 * Wait (at most SETTLE_MS) until the observer has seen as many messages as the devices say they sent, so the final
 * checks do not judge messages still on their way.
 */
async function settle (ctx: ConditionContext, signal: AbortSignal): Promise<void> {
  const until = performance.now() + SETTLE_MS
  while (observerMissed(ctx) > 0 && performance.now() < until && !signal.aborted) await delay(POLL_MS, signal)
}

/** What a run announces on `{p}/.run/{runId}` while it is live. */
interface RunAnnouncement { runId: string; scenario: string; host: string; pid: number; startedAt: string }

/**
 * Answer liveness probes for this run: a message on `{p}/.run/{runId}/ping` gets the announcement back on
 * `{p}/.run/{runId}/pong`. A run that finds another's announcement asks it this way before refusing to start, so an
 * announcement that outlived its run (a broker with persistence that crashed, so no last will was sent) is told from
 * a live run. It answers for as long as the controller is connected.
 */
async function answerProbes (controller: MqttClient, own: RunAnnouncement, prefix: string): Promise<void> {
  const ping = `${runTopic(prefix, own.runId)}/ping`
  const pong = `${runTopic(prefix, own.runId)}/pong`
  const onMessage = (topic: string): void => {
    if (topic === ping) controller.publish(pong, JSON.stringify(own), { qos: 0 })
  }
  controller.on('message', onMessage)
  await withTimeout(controller.subscribeAsync(ping, { qos: 0 }), PUBLISH_BATCH_MS, `subscribing to ${ping}`)
}

/** Why an announcement is stale: its process on this host is gone, or its run did not answer a probe in time. */
type StaleReason = 'process gone' | 'no answer'

/**
 * Is the run behind this announcement still there? A process on this host is looked up (no probe needed when it is
 * gone); any other is probed. Resolves with undefined when it is live, else with why it is not.
 */
async function runIsStale (controller: MqttClient, other: RunAnnouncement, prefix: string): Promise<StaleReason | undefined> {
  if (other.host === hostname() && other.pid > 0 && other.pid !== process.pid) {
    try {
      process.kill(other.pid, 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'process gone'
    }
  }
  const ping = `${runTopic(prefix, other.runId)}/ping`
  const pong = `${runTopic(prefix, other.runId)}/pong`
  let answered!: () => void
  const answer = new Promise<void>((resolve) => { answered = resolve })
  const onMessage = (topic: string): void => { if (topic === pong) answered() }
  controller.on('message', onMessage)
  try {
    await withTimeout(controller.subscribeAsync(pong, { qos: 0 }), PUBLISH_BATCH_MS, `subscribing to ${pong}`)
    controller.publish(ping, '', { qos: 0 })
    return await withTimeout(answer.then(() => undefined), LIVENESS_MS, `run ${other.runId} answering on ${pong}`).catch(() => 'no answer' as const)
  } finally {
    controller.off('message', onMessage)
    await controller.unsubscribeAsync(pong).catch(() => undefined)
  }
}

/**
 * Refuse to start when another run is live under this prefix: its announcement (`{p}/.run/{runId}`, retained, cleared
 * by its end or by its runner's last will) is on the broker and it answers a probe. An announcement nobody answers
 * for is stale (its run and its broker died together); it is withdrawn and logged. Two runs starting at the same
 * moment both announce themselves and then look again: the later one (by start time, then run id) gives way.
 */
async function refuseLiveRun (observer: Observer, controller: MqttClient, own: RunAnnouncement, prefix: string, where: string, logger: Logger): Promise<void> {
  const stale = new Set<string>()
  const conflict = (): RunAnnouncement | undefined => {
    for (const [id, text] of observer.runs) {
      if (id === own.runId || stale.has(id)) continue
      let other: RunAnnouncement
      try { other = JSON.parse(text) as RunAnnouncement } catch { other = { runId: id, scenario: '?', host: '?', pid: 0, startedAt: '' } }
      if (other.startedAt === '' || other.startedAt < own.startedAt || (other.startedAt === own.startedAt && id < own.runId)) return other
    }
    return undefined
  }
  const live = async (): Promise<RunAnnouncement | undefined> => {
    for (let other = conflict(); other !== undefined; other = conflict()) {
      const reason = await runIsStale(controller, other, prefix)
      if (reason === undefined) return other
      stale.add(other.runId)
      const why = reason === 'process gone' ? `its process (pid ${other.pid}) on this host is gone` : `its run did not answer a probe within ${LIVENESS_MS / 1000} s`
      logger.warn({ run: other.runId, scenario: other.scenario, host: other.host, pid: other.pid, since: other.startedAt, reason }, `withdrawing a stale run announcement: ${why}`)
      await clearRetained(controller, [runTopic(prefix, other.runId)])
    }
    return undefined
  }
  const refuse = (other: RunAnnouncement): FleetError => new FleetError('FLEET_ERR_RUN_CONFLICT', `another run is live under the topic prefix "${prefix}" on ${where}: run ${other.runId} of "${other.scenario}" (${other.host}, pid ${other.pid}, since ${other.startedAt}). Run beside it with its own prefix, e.g. --prefix ${prefix}-2, or wait for it to end`)
  const before = await live()
  if (before !== undefined) throw refuse(before)
  const topic = runTopic(prefix, own.runId)
  await withTimeout(controller.publishAsync(topic, JSON.stringify(own), { qos: 1, retain: true }), PUBLISH_BATCH_MS, `announcing the run on ${topic}`)
  // Our own announcement coming back means every earlier one has come too (one connection, in order).
  const until = performance.now() + PROBE_MS
  while (!observer.runs.has(own.runId) && performance.now() < until) await delay(POLL_MS / 2)
  const after = await live()
  if (after !== undefined) {
    await withTimeout(controller.publishAsync(topic, '', { qos: 1, retain: true }), PUBLISH_BATCH_MS, `withdrawing the run from ${topic}`).catch(() => undefined)
    throw refuse(after)
  }
}

function runTopic (prefix: string, runId: string): string {
  return `${prefix}/${RUN_LEVEL}/${runId}`
}

/** Publish an empty retained message to each topic, which deletes its retained message [MQTT-3.3.1-10]. Bounded. */
async function clearRetained (controller: MqttClient, topicsToClear: Iterable<string>): Promise<number> {
  const list = [...topicsToClear]
  await withTimeout(boundedMap(list, FAN_OUT_WINDOW, (t) => controller.publishAsync(t, '', { qos: 1, retain: true })), PUBLISH_BATCH_MS, `clearing ${list.length} retained topics`)
  return list.length
}

/**
 * Follow the observer's connections: when one drops, the broker has `graceMs` to come back (the clients reconnect
 * with backoff meanwhile); past that, `lost` is called with FLEET_ERR_BROKER_LOST naming the broker.
 */
function watchBroker (observer: Observer, graceMs: number, where: string, emit: (e: ProgressEvent) => void, lost: (err: FleetError) => void): () => void {
  let timer: NodeJS.Timeout | undefined
  let since = 0
  const off = observer.onConnection((up) => {
    if (up) {
      if (timer === undefined) return
      clearTimeout(timer)
      timer = undefined
      emit({ type: 'broker-back', url: where, downMs: Math.round(performance.now() - since) })
      return
    }
    if (timer !== undefined) return
    since = performance.now()
    emit({ type: 'broker-lost', url: where, graceMs })
    timer = setTimeout(() => {
      lost(new FleetError('FLEET_ERR_BROKER_LOST', `lost the broker ${where}: no connection for ${formatDuration(graceMs)} (the grace period, --broker-grace)`))
    }, graceMs)
  })
  return () => { off(); clearTimeout(timer) }
}

/** `p`, or a rejection naming what was awaited once `ms` have passed. */
function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new FleetError('FLEET_ERR_BROKER_UNREACHABLE', `${what}: not done within ${formatDuration(ms)}`)) }, ms)
  })
  p.catch(() => undefined)
  return Promise.race([p, limit]).finally(() => { clearTimeout(timer) })
}

/** Close in reverse order of opening; never throws (a failure to close is logged), and each part is bounded. */
async function teardown (res: Resources, logger: Logger): Promise<void> {
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    try { await withTimeout(Promise.resolve().then(fn), TEARDOWN_STEP_MS, `tear-down: ${what}`) } catch (err) { logger.warn({ err, what }, 'tear-down step failed') }
  }
  const { commander, fleet, controller, observer, broker, bridge, rollouts } = res
  res.rollouts = undefined
  res.gate.open = false
  res.bridge = undefined
  if (bridge !== undefined) await step('bridge', () => bridge.stop())
  res.commander = undefined
  res.fleet = undefined
  res.controller = undefined
  res.observer = undefined
  res.broker = undefined
  if (commander !== undefined) await step('commander', () => { commander.close() })
  if (rollouts !== undefined) await step('rollout service', () => rollouts.stop())
  if (fleet !== undefined) await step('fleet', () => fleet.stop())
  if (controller !== undefined) {
    if (broker === undefined && controller.connected) {
      if (res.clearAfter && fleet !== undefined) {
        // What this run's devices left: status, info, reported and desired state.
        const t = res.topics
        await step('retained topics', () => clearRetained(controller, fleet.devices.flatMap((d) => [t.status(d.id), t.info(d.id), t.reported(d.id), t.desired(d.id)])))
      } else if (res.desiredTouched.size > 0) {
        // On an external broker a retained desired state would reach the next run's devices: clear it [MQTT-3.3.1-10].
        await step('desired state', () => clearRetained(controller, [...res.desiredTouched].map((id) => res.topics.desired(id))))
      }
    }
    const announced = res.announced
    if (announced !== undefined && controller.connected) await step('run announcement', () => clearRetained(controller, [announced]))
    await step('controller', () => endClient(controller, true))
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
    t.emit({ type: 'tick', elapsedMs: Math.round(elapsed()), durationMs: scenario.durationMs, messages: t.ctx.observer.traffic.messages, online: t.fleet.counters().online })
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
      case 'import':
      case 'deploy':
      case 'rollout':
        if (t.res.rollouts === undefined) throw new FleetError('FLEET_ERR_CLOSED', 'the rollout service is not running')
        await t.res.rollouts.runStep(step, r)
        break
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
  for (const c of r.conditions ?? []) t.report.expectations[c.status]++
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
  for (const d of devices) t.res.commandsSent.set(d.id, (t.res.commandsSent.get(d.id) ?? 0) + 1)
  // At most FAN_OUT_WINDOW requests in flight, all within the step's one time-out: a burst of thousands of replies
  // would overflow the broker's per-client queue towards the runner (mosquitto: 20 in flight + 1000 queued).
  const deadline = performance.now() + step.timeoutMs
  const bytes = typeof step.args === 'string' ? Buffer.byteLength(step.args) : Buffer.byteLength(JSON.stringify(step.args))
  const outcomes = await boundedMap(devices, FAN_OUT_WINDOW, async (d): Promise<{ id: string; reply?: CommandReply; err?: unknown }> => {
    t.ctx.observer.countCommand(d.id, step.command, bytes)
    try {
      return { id: d.id, reply: await commander.send(d.id, step.command, step.args, Math.max(1, Math.round(deadline - performance.now()))) }
    } catch (err) {
      return { id: d.id, err }
    }
  })
  const tally: ReplyTally = { ok: 0, errors: {}, timeouts: 0, repliesMissed: 0 }
  const wrong: string[] = []
  const timedOut: string[] = []
  const missed: string[] = []
  let firstOk: Record<string, unknown> | undefined
  let firstError: { code: string; message: string } | undefined
  const failedToSend: string[] = []
  for (const [i, o] of outcomes.entries()) {
    if (o.reply === undefined) {
      // Only a real time-out is "did not reply"; a refused publish or a closed controller says what it was.
      if (isFleetError(o.err) && o.err.code === 'FLEET_ERR_COMMAND_TIMEOUT') {
        tally.timeouts++
        // By its own count the device answered every command this run sent it: this reply was lost on the way back
        // to the runner (a broker dropping messages to a slow subscriber), not a device that did not reply.
        const d = devices[i] as Device
        if (answered(d) >= (t.res.commandsSent.get(d.id) ?? 0)) { tally.repliesMissed++; missed.push(o.id) } else timedOut.push(`${o.id}${whyUnreachable(d.id, t.ctx.observer)}`)
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
  const lostReplies = missed.length > 0 ? `${missed.length} of ${n} answered by their own count, but the reply never reached the runner (lost on the way): ${list(missed)}` : ''
  if (problems.length > 0) {
    r.status = 'failed'
    r.detail = [...problems, ...(lostReplies === '' ? [] : [lostReplies])].join('; ')
  } else if (lostReplies !== '') {
    r.status = 'inconclusive'
    r.detail = [...parts, lostReplies].join(', ')
  } else {
    r.status = 'passed'
    r.detail = parts.join(', ')
  }
}

/**
 * Why a device that did not answer may not have been reachable, by the observer's account: its last status was
 * `offline`, or it has not announced itself `online` since the broker went away (its command subscription is then
 * not known to be back). Empty when the observer knows no reason.
 */
function whyUnreachable (id: string, observer: Observer): string {
  const o = observer.device(id)
  if (o?.status === 'offline') return ' (offline)'
  if (observer.lastLossAt > 0 && (o?.onlineAt ?? 0) < observer.lastLossAt) return ' (not online again since the broker went away)'
  return ''
}

/** Commands a device answered (ok or error), by its own count since it started. */
function answered (d: Device): number {
  return d.counters.commandsHandled + d.counters.commandErrors
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
  await withTimeout(boundedMap(devices, FAN_OUT_WINDOW, (d) => {
    t.res.desiredTouched.add(d.id)
    return controller.publishAsync(t.res.topics.desired(d.id), payload, { qos: 1, retain: true })
  }), PUBLISH_BATCH_MS, `publishing the desired state to ${devices.length} devices`)
  r.status = 'done'
  r.detail = `published to ${devices.length === 1 ? (devices[0] as Device).id : `${devices.length} devices`} ($version ${version})`
}

function checkOnce (c: Condition, ctx: ConditionContext): ConditionReport {
  const o = evaluateCondition(c, ctx)
  return { description: describeCondition(c), path: c.path, line: c.line, status: o.verdict, detail: o.detail }
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
  const failed = results.filter((x) => x.status === 'failed')
  const unsure = results.filter((x) => x.status === 'inconclusive')
  r.status = ok ? 'passed' : failed.length > 0 ? 'failed' : 'inconclusive'
  const waited = performance.now() - started
  const suffix = step.withinMs === 0 ? '' : ok ? (waited >= POLL_MS ? ` (after ${formatDuration(waited)})` : '') : ` (still not true after ${formatDuration(step.withinMs)})`
  const bad = failed.length > 0 ? failed : unsure
  r.detail = results.length === 1
    ? `${(results[0] as ConditionReport).detail}${suffix}`
    : ok
      ? `all ${results.length} conditions hold${suffix}`
      : `${bad.length} of ${results.length} conditions ${failed.length > 0 ? 'failed' : 'inconclusive'}${suffix}: ${bad.map((x) => `${x.description}: ${x.detail}`).join('; ')}`
}
