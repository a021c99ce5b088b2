/**
 * The rollout side of a scenario run: the rollout service on the run's broker and clock, with its state in a data
 * directory (`fleet run --data-dir DIR`, or a temporary one, removed at the end, when a scenario uses rollouts
 * without it), and the update agent, with the scenario's settings and faults, plugged into every device. Kept out of
 * runner.ts: the runner starts and stops it, hands it the rollout steps and reads deployment status through it.
 *
 * The steps talk to the service the way `fleet rollout` does, over MQTT (request/reply on
 * `{p}/$bridge/rollout/commands/…`), and deployment conditions read the status the service publishes on its retained
 * status topics, so a scenario checks what any client of the fleet would see, not its own bookkeeping.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { delay, type Clock } from '../core/clock.ts'
import { formatDuration } from '../core/duration.ts'
import { FleetError, isFleetError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { RolloutClient } from '../bridge/rollout/client.ts'
import type { DeploymentStatus } from '../bridge/rollout/engine.ts'
import { RolloutService } from '../bridge/rollout/service.ts'
import type { CapabilityFactory } from '../devices/capability.ts'
import type { DeviceSpec } from '../devices/device.ts'
import { updateAgent, type UpdateAgentOptions } from '../devices/update-agent.ts'
import type { StepReport } from './report.ts'
import type { DeployStep, ImportStep, RolloutSettings, RolloutStep } from './schema.ts'
import { targetMatcher } from './select.ts'

export interface RunRollouts {
  /** Capabilities for the fleet's devices: the update agent. */
  readonly capabilities: readonly CapabilityFactory[]
  /** Where the service keeps its state (a temporary directory unless one was given). */
  readonly dataDir: string
  /** Start the service once the broker is reachable, and import the scenario's `rollout.updates`. */
  start (target: BrokerTarget): Promise<RolloutService>
  /** Carry out an import, deploy or rollout step and fill in its report. */
  runStep (step: ImportStep | DeployStep | RolloutStep, r: StepReport): Promise<void>
  /** The latest status the service published of a deployment; whether the service is up. For conditions. */
  readonly view: { status: (id: string) => DeploymentStatus | undefined; running: () => boolean }
  stop (): Promise<void>
}

export interface RunRolloutsOptions {
  /** The data directory; default a temporary one, removed by stop(). */
  dataDir?: string | undefined
  prefix: string
  clock: Clock
  logger: Logger
  /** The scenario's `rollout:` section. */
  settings?: RolloutSettings | undefined
  /** The fleet's devices, to resolve fault targets. */
  specs: readonly DeviceSpec[]
  connectTimeoutMs?: number
}

/** How long a step waits for the service's answer. */
const REPLY_TIMEOUT_MS = 10_000

/** The update agent's options from the scenario's settings; fault targets become device ids. */
export function agentOptions (settings: RolloutSettings | undefined, specs: readonly DeviceSpec[]): UpdateAgentOptions {
  if (settings === undefined) return {}
  const faults = settings.faults.map((f) => ({ fault: f.fault, devices: specs.filter(targetMatcher(f.target)).map((s) => s.id), probability: f.probability }))
  return { ...settings.agent, ...(faults.length === 0 ? {} : { faults }) }
}

export function runRollouts (options: RunRolloutsOptions): RunRollouts {
  const temporary = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'homefleet-rollout-'))
  const statuses = new Map<string, DeploymentStatus>()
  let service: RolloutService | undefined
  let client: RolloutClient | undefined
  let target: BrokerTarget | undefined
  let stopped = false

  const startService = async (): Promise<RolloutService> => {
    if (target === undefined) throw new FleetError('FLEET_ERR_CLOSED', 'the rollout service was never started')
    service = await RolloutService.start({
      target, prefix: options.prefix, dataDir, clock: options.clock, logger: options.logger,
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs })
    })
    return service
  }
  const connected = (): RolloutClient => {
    if (client === undefined) throw new FleetError('FLEET_ERR_CLOSED', 'the rollout client is closed')
    return client
  }

  const importStep = async (step: ImportStep, r: StepReport): Promise<string> => {
    const result = await connected().request<{ imported: string[]; unchanged: string[] }>('import', { manifests: step.updates.map((u) => ({ file: u.file, text: u.text })) })
    r.devices = undefined
    const parts: string[] = []
    if (result.imported.length > 0) parts.push(`imported ${result.imported.join(', ')}`)
    if (result.unchanged.length > 0) parts.push(`already imported ${result.unchanged.join(', ')}`)
    return parts.join('; ')
  }

  const deployStep = async (step: DeployStep): Promise<string> => {
    const s = await connected().request<DeploymentStatus>('deploy', step.deployment as unknown as Record<string, unknown>)
    statuses.set(s.id, s)
    return summary(s)
  }

  const restart = async (step: RolloutStep): Promise<string> => {
    const s = service
    service = undefined
    const t0 = performance.now()
    await s?.stop()
    if (step.downMs > 0) await delay(step.downMs)
    const fresh = await startService()
    const live = fresh.engine.list().filter((d) => d.phase === 'running' || d.phase === 'paused' || d.phase === 'scheduled' || d.phase === 'halted').length
    return `stopped and started again on ${temporary ? 'its' : 'the'} data directory after ${formatDuration(performance.now() - t0)}: ${fresh.engine.list().length} deployment(s) loaded, ${live} live, ${fresh.engine.knownDevices()} devices heard`
  }

  return {
    capabilities: [updateAgent(agentOptions(options.settings, options.specs))],
    dataDir,
    view: {
      status: (id) => statuses.get(id),
      running: () => service !== undefined
    },

    async start (t) {
      target = t
      const s = await startService()
      client = await RolloutClient.connect({ target: t, prefix: options.prefix, timeoutMs: REPLY_TIMEOUT_MS, ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }) })
      // Statuses the broker held from before this run (an external broker) are not this run's: only live ones count.
      await client.watchDeployments((status, retained) => { if (!retained) statuses.set(status.id, status) })
      const updates = options.settings?.updates ?? []
      if (updates.length > 0) {
        await client.request('import', { manifests: updates.map((u) => ({ file: u.file, text: u.text })) })
      }
      return s
    },

    async runStep (step, r) {
      try {
        let detail: string
        switch (step.kind) {
          case 'import': detail = await importStep(step, r); break
          case 'deploy': detail = await deployStep(step); break
          case 'rollout':
            if (step.action === 'restart') detail = await restart(step)
            else {
              const s = await connected().request<DeploymentStatus>(step.action, { id: step.deployment })
              statuses.set(s.id, s)
              detail = summary(s)
            }
            break
        }
        if (step.expect === 'ok') { r.status = 'passed'; r.detail = detail } else { r.status = 'failed'; r.detail = `expected ${step.expect}, got ok: ${detail}` }
      } catch (err) {
        if (!isFleetError(err) || err.code === 'FLEET_ERR_CLOSED') throw err
        const answer = `${err.code}: ${err.message}${err.issues.length === 0 ? '' : ` (${err.issues.slice(0, 3).map((i) => `${i.path === '' ? '' : `${i.path}: `}${i.message}`).join('; ')})`}`
        r.status = step.expect === err.code ? 'passed' : 'failed'
        r.detail = step.expect === err.code || step.expect === 'ok' ? answer : `expected ${step.expect}, got ${answer}`
      }
    },

    async stop () {
      if (stopped) return
      stopped = true
      const c = client
      const s = service
      client = undefined
      service = undefined
      try {
        await c?.close()
        await s?.stop()
      } finally {
        if (temporary) rmSync(dataDir, { recursive: true, force: true })
      }
    }
  }
}

/** `Active (running), wave 1 of 3: 2 InProgress, 0 Succeeded` */
function summary (s: DeploymentStatus): string {
  const counts = Object.entries(s.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'no devices yet'
  return `${s.id}: ${s.state} (${s.phase}), wave ${s.currentWave + 1} of ${s.waves.length}, ${counts}`
}
