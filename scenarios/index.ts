/**
 * Scenarios: the public API the CLI (`fleet run`), tests and scripts use.
 *
 * @example
 * import { loadScenarioFile, runScenario, formatReport } from './scenarios/index.ts'
 * const report = await runScenario(await loadScenarioFile('evening.yaml'), { seed: 7 })
 * console.log(formatReport(report))
 */
export { loadScenarioFile, loadScenarioText, formatPath } from './load.ts'
export { BUILTIN_SCENARIOS, builtinScenarioPath } from './builtin/index.ts'
export { DEFAULT_BROKER_GRACE_MS, exitCodeOf, runScenario, type RunOptions, type ProgressEvent } from './runner.ts'
export { formatReport, formatStepLine, describeStep, observerNote, type ObserverReport, type RunResult, type ScenarioReport, type StepReport, type StepStatus, type ConditionReport, type ReplyTally } from './report.ts'
export { parseDuration, formatDuration } from '../core/duration.ts'
export { describeCondition, evaluateCondition } from './conditions.ts'
export { Observer, type DeviceObservation, type TrafficCounts } from './observer.ts'
export { describeTarget, targetMatcher } from './select.ts'
export type {
  Scenario, Step, CommandStep, DesiredStep, NoteStep, CheckStep, Condition, StateCondition, TelemetryCondition,
  EventsCondition, MessagesCondition, PresenceCondition, TargetSelector, ReplyExpectation
} from './schema.ts'
