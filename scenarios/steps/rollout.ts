/**
 * The rollout steps of a scenario, as the report shows them: `import`, `deploy` and `rollout` (an operator's verb or a
 * restart of the rollout service). Pure: the run-time side, which talks to the rollout service, is
 * scenarios/rollout.ts.
 */
import { basename } from 'node:path'
import { formatDuration } from '../../core/duration.ts'
import type { DeployStep, ImportStep, RolloutStep } from '../schema.ts'

/** `import Xiaomi/speaker-l09a/2.1.0 (generated), Xiaomi/speaker-l09a/1.4.2 (speaker-l09a-1.4.2.importmanifest.json)` */
export function describeImport (step: ImportStep): string {
  const what = step.updates.map((u) => `${u.update === '' ? '?' : u.update} (${u.generated ? 'generated' : basename(u.file)})`).join(', ')
  return `import ${what}${step.expect === 'ok' ? '' : ` (expect ${step.expect})`}`
}

/** `deploy Xiaomi/speaker-l09a/2.1.0 as canary to group kitchen: waves 10%, 30%, 100%; rollback to …` */
export function describeDeploy (step: DeployStep): string {
  const d = step.deployment
  const parts: string[] = []
  if (d.waves !== undefined) parts.push(`waves ${d.waves.map((w) => `${w.percent}%`).join(', ')}`)
  if (d.rateLimit !== undefined) parts.push('perMinute' in d.rateLimit ? `${d.rateLimit.perMinute}/min` : `from ${d.rateLimit.baseRate}/min ×${d.rateLimit.factor}`)
  if (d.inProgressTimeout !== undefined) parts.push(`timeout ${formatDuration(Number(d.inProgressTimeout))}`)
  if (d.retries !== undefined && d.retries > 0) parts.push(`${d.retries} retr${d.retries === 1 ? 'y' : 'ies'}`)
  if (d.abort !== undefined && d.abort.length > 0) parts.push(`abort on ${d.abort.map((a) => `${a.failureType} ≥ ${a.thresholdPercent}%`).join(' or ')}`)
  if (d.rollback !== undefined) parts.push(`rollback to ${d.rollback.update}`)
  const head = `deploy ${d.update} as ${d.id} to group ${d.group ?? '$default'}${d.targetCondition === undefined ? '' : ` where ${d.targetCondition}`}`
  return `${head}${parts.length === 0 ? '' : `: ${parts.join('; ')}`}${step.expect === 'ok' ? '' : ` (expect ${step.expect})`}`
}

/** `pause canary`, `restart the rollout service (down 3s)` */
export function describeRollout (step: RolloutStep): string {
  const what = step.action === 'restart'
    ? `restart the rollout service${step.downMs > 0 ? ` (down ${formatDuration(step.downMs)})` : ''}`
    : `${step.action === 'retry' ? 'retry the failed devices of' : step.action} ${step.deployment ?? '?'}`
  return `${what}${step.expect === 'ok' ? '' : ` (expect ${step.expect})`}`
}
