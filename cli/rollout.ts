/**
 * `fleet rollout import|deploy|status|pause|resume|cancel|retry|serve`: a thin wrapper over the rollout client
 * (bridge/rollout/client.ts) for a running service, over the store for `--data-dir` without `--broker`, and over
 * {@link RolloutService} for `serve`.
 */
import { readFile } from 'node:fs/promises'
import { ScaledClock, systemClock } from '../core/clock.ts'
import { formatDuration } from '../core/duration.ts'
import { FleetError } from '../core/errors.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { RolloutClient } from '../bridge/rollout/client.ts'
import { RolloutEngine, type DeploymentStatus, type GroupCompliance, type StateCounts } from '../bridge/rollout/engine.ts'
import { planImport } from '../bridge/rollout/manifest-import.ts'
import type { DeploymentInput, DeviceRecord } from '../bridge/rollout/model.ts'
import { RolloutService, type ServiceWarning } from '../bridge/rollout/service.ts'
import { DEFAULT_DATA_DIR, RolloutStore } from '../bridge/rollout/store.ts'
import { terminalLogger } from './broker.ts'
import { ROLLOUT_ACTIONS, type CommandContext, type RolloutAction, type RolloutValues } from './commands.ts'
import { whenAborted, type CliIo } from './io.ts'
import { UsageError } from './options.ts'

const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883'
/** Phases after which a deployment does nothing more by itself. */
const FINAL_PHASES = new Set(['completed', 'halted', 'aborted', 'rolledBack', 'superseded', 'canceled'])

export async function runRolloutCommand (ctx: CommandContext<RolloutValues>): Promise<number> {
  const { options: o, positionals, io } = ctx
  const action = positionals[0] as string
  if (!(ROLLOUT_ACTIONS as readonly string[]).includes(action)) throw new UsageError('rollout', `unknown action ${JSON.stringify(action)}: ${ROLLOUT_ACTIONS.join(', ')}`)
  const args = positionals.slice(1)
  const a = action as RolloutAction
  const offline = o.broker === undefined && o.dataDir !== undefined

  if (a === 'serve') return serve(ctx)
  if (a === 'import') {
    if (args.length === 0) throw new UsageError('rollout', 'import needs at least one manifest file')
    if (offline) return importOffline(args, o, io)
    const manifests = await Promise.all(args.map(async (file) => ({ file, text: await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new FleetError('FLEET_ERR_MANIFEST_INVALID', `${file}: cannot read: ${err.code ?? err.message}`) }) })))
    return withClient(o, async (c) => { print(io, o.json, await c.request<{ imported: string[]; unchanged: string[] }>('import', { manifests }), formatImport); return 0 })
  }
  if (a === 'status') {
    if (args.length > 1) throw new UsageError('rollout', 'status takes at most one deployment id')
    const id = args[0]
    if (offline) {
      if (o.watch) throw new UsageError('rollout', '--watch needs the running service (--broker)')
      return statusOffline(id, o, io)
    }
    return withClient(o, async (c) => {
      if (id === undefined) { print(io, o.json, await c.request<Overview>('status'), formatOverview); return 0 }
      const status = await c.request<DeploymentStatus & { devices?: DeviceRecord[]; warnings?: ServiceWarning[] }>('status', { id, devices: o.devices })
      if (!o.watch) { print(io, o.json, status, formatStatus); return 0 }
      return watch(c, id, status, ctx)
    })
  }
  if (offline) throw new UsageError('rollout', `${a} needs the running rollout service: give --broker (only import and status work on --data-dir alone)`)
  if (a === 'deploy') {
    if (args.length !== 1) throw new UsageError('rollout', 'deploy needs exactly one update: provider/name/version')
    const input = await deploymentInput(args[0] as string, o)
    return withClient(o, async (c) => { print(io, o.json, await c.request<DeploymentStatus>('deploy', input as unknown as Record<string, unknown>), formatStatus); return 0 })
  }
  if (args.length !== 1) throw new UsageError('rollout', `${a} needs exactly one deployment id`)
  return withClient(o, async (c) => { print(io, o.json, await c.request<DeploymentStatus>(a, { id: args[0] }), formatStatus); return 0 })
}

async function withClient (o: RolloutValues, fn: (c: RolloutClient) => Promise<number>): Promise<number> {
  const target: BrokerTarget = { url: o.broker ?? DEFAULT_BROKER }
  const client = await RolloutClient.connect({ target, prefix: o.prefix, timeoutMs: o.replyTimeout })
  try { return await fn(client) } finally { await client.close() }
}

function print<T> (io: CliIo, json: boolean, value: T, text: (v: T) => string): void {
  io.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text(value))
}

/** The deployment request from `--spec` and the flags (flags win). Bad values are FLEET_ERR_ROLLOUT_INVALID later. */
async function deploymentInput (update: string, o: RolloutValues): Promise<DeploymentInput> {
  let base: Partial<DeploymentInput> = {}
  if (o.spec !== undefined) {
    const text = await readFile(o.spec, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new UsageError('rollout', `--spec ${o.spec}: cannot read: ${err.code ?? err.message}`) })
    try { base = JSON.parse(text) as Partial<DeploymentInput> } catch (err) { throw new FleetError('FLEET_ERR_ROLLOUT_INVALID', `${o.spec}: not JSON: ${(err as Error).message}`) }
  }
  const input: DeploymentInput = { ...base, update }
  if (o.id !== undefined) input.id = o.id
  if (o.group !== undefined) input.group = o.group
  if (o.start !== undefined) input.startAt = o.start
  if (o.condition !== undefined) input.targetCondition = o.condition
  if (o.waves !== undefined || o.soak !== undefined || o.success !== undefined || o.error !== undefined) {
    const percents = o.waves === undefined ? (base.waves ?? [{ percent: 100 }]).map((w) => w.percent) : o.waves.split(',').map(Number)
    const { soak, success, error } = o
    input.waves = percents.map((percent) => ({
      percent,
      ...(soak === undefined ? {} : { soak }),
      ...(success === undefined ? {} : { successThreshold: success }),
      ...(error === undefined ? {} : { errorThreshold: error })
    }))
  }
  if (o.rate !== undefined) input.rateLimit = { perMinute: o.rate }
  else if (o.rateBase !== undefined || o.rateFactor !== undefined) {
    if (o.rateBase === undefined || o.rateFactor === undefined) throw new UsageError('rollout', 'an exponential rate needs --rate-base and --rate-factor (and --rate-notified or --rate-succeeded)')
    input.rateLimit = {
      baseRate: o.rateBase, factor: o.rateFactor,
      ...(o.rateNotified === undefined ? {} : { notified: o.rateNotified }),
      ...(o.rateSucceeded === undefined ? {} : { succeeded: o.rateSucceeded }),
      ...(o.rateMax === undefined ? {} : { maxPerMinute: o.rateMax })
    }
  }
  if (o.abort.length > 0) {
    input.abort = o.abort.map((x) => {
      const [failureType, pct, min] = x.split(':') as [string, string, string]
      return { failureType: failureType.toUpperCase(), thresholdPercent: Number(pct), minExecuted: Number(min) }
    })
  }
  if (o.inProgressTimeout !== undefined) input.inProgressTimeout = o.inProgressTimeout
  if (o.retries !== undefined) input.retries = o.retries
  if (o.rollback !== undefined) {
    const { rollbackFailedPercent: failedPercent, rollbackFailedCount: failedCount } = o
    input.rollback = { update: o.rollback, ...(failedPercent === undefined ? {} : { failedPercent }), ...(failedCount === undefined ? {} : { failedCount }) }
  } else if (o.rollbackFailedPercent !== undefined || o.rollbackFailedCount !== undefined) {
    throw new UsageError('rollout', '--rollback-failed-percent and --rollback-failed-count need --rollback UPDATE')
  }
  return input
}

async function importOffline (files: readonly string[], o: RolloutValues, io: CliIo): Promise<number> {
  const store = RolloutStore.open(o.dataDir ?? DEFAULT_DATA_DIR)
  try {
    const plan = await planImport(files, store)
    store.saveImport(plan, systemClock.now())
    print(io, o.json, { imported: plan.updates.map((u) => u.key), unchanged: [...plan.unchanged] }, formatImport)
    return 0
  } finally {
    store.close()
  }
}

function statusOffline (id: string | undefined, o: RolloutValues, io: CliIo): number {
  const store = RolloutStore.open(o.dataDir ?? DEFAULT_DATA_DIR)
  try {
    const noop = { offer () {}, cancel () {}, changed () {}, groupChanged () {}, log () {} }
    const engine = new RolloutEngine({ clock: systemClock, store, port: noop })
    if (id !== undefined) {
      const status = engine.status(id)
      print(io, o.json, o.devices ? { ...status, devices: engine.deviceRecords(id) } : status, formatStatus)
    } else {
      const overview: Overview = {
        deployments: engine.list().map((d) => engine.status(d.spec.id)),
        groups: [],
        updates: store.listUpdates().map((u) => ({ key: u.key, deployable: u.manifest.isDeployable, files: u.files.length, importedAt: u.importedAt }))
      }
      print(io, o.json, overview, formatOverview)
    }
    return 0
  } finally {
    store.close()
  }
}

/** Follow a deployment's retained status: a live line on stderr, the final status on stdout. */
async function watch (c: RolloutClient, id: string, first: DeploymentStatus, ctx: CommandContext<RolloutValues>): Promise<number> {
  const { io, options: o, signal } = ctx
  const tty = io.stderr.isTTY === true
  let last = first
  let lastLine = ''
  const show = (s: DeploymentStatus): void => {
    const line = progressLine(s)
    if (line === lastLine) return
    lastLine = line
    io.stderr.write(tty ? `\r\u001b[2K${line.slice(0, (io.stderr.columns ?? 120) - 1)}` : `${line}\n`)
  }
  show(first)
  const done = new Promise<void>((resolve) => {
    if (FINAL_PHASES.has(first.phase)) { resolve(); return }
    void c.watchDeployment(id, (s) => {
      last = s
      show(s)
      if (FINAL_PHASES.has(s.phase)) resolve()
    }).then((stop) => { void done.then(stop) })
  })
  await Promise.race([done, whenAborted(signal)])
  if (tty) io.stderr.write('\n')
  print(io, o.json, last, formatStatus)
  return last.phase === 'completed' ? 0 : 1
}

async function serve (ctx: CommandContext<RolloutValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const logger = terminalLogger(io.stderr, io.env, { level: 'info', json: o.json, name: 'rollout' })
  const service = await RolloutService.start({
    target: { url: o.broker ?? DEFAULT_BROKER },
    prefix: o.prefix,
    dataDir: o.dataDir ?? DEFAULT_DATA_DIR,
    clock: o.speed === 1 ? systemClock : new ScaledClock(o.speed),
    logger
  })
  io.stderr.write(`rollout service on ${o.broker ?? DEFAULT_BROKER} (prefix ${o.prefix}), data in ${service.store.path}; Ctrl-C to stop\n`)
  await whenAborted(signal)
  await service.stop()
  return 0
}

// ---- text output ----

function counts (c: StateCounts): string {
  const parts = Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`)
  return parts.length === 0 ? 'no devices' : parts.join(', ')
}

function progressLine (s: DeploymentStatus): string {
  const total = Object.values(s.counts).reduce((a, b) => a + b, 0)
  const done = s.counts.Succeeded + s.counts.Failed + s.counts.TimedOut + s.counts.Canceled
  const wave = s.currentWave < 0 ? 'not started' : `wave ${s.currentWave + 1}/${s.waves.length}`
  return `${s.id}: ${s.state} (${s.phase}) ${wave}  ${done}/${total} done  ok ${s.counts.Succeeded}  in progress ${s.counts.InProgress}  pending ${s.counts.Pending}  failed ${s.counts.Failed}  timed out ${s.counts.TimedOut}  failure rate ${s.failureRate}%`
}

function formatImport (r: { imported: string[]; unchanged: string[] }): string {
  const lines = [
    ...r.imported.map((k) => `imported  ${k}`),
    ...r.unchanged.map((k) => `unchanged ${k} (already imported, same manifest)`)
  ]
  return `${lines.join('\n')}\n`
}

function formatStatus (s: DeploymentStatus & { devices?: DeviceRecord[]; warnings?: readonly ServiceWarning[] }): string {
  const out = [
    ...warningLines(s.warnings),
    `deployment ${s.id}: ${s.update} to group ${s.groupId}${s.spec.targetCondition === undefined ? '' : ` where ${s.spec.targetCondition}`}`,
    `  state ${s.state} (${s.phase}), ${s.currentWave < 0 ? 'not started' : `wave ${s.currentWave + 1} of ${s.waves.length}`}, failure rate ${s.failureRate}%${s.ratePerMinute === undefined ? '' : `, rate ${s.ratePerMinute}/min`}`
  ]
  if (s.startAt !== undefined && s.phase === 'scheduled') out.push(`  starts at ${new Date(s.startAt).toISOString()}`)
  if (s.halt !== undefined) out.push(`  ${s.phase === 'rolledBack' ? 'rolled back' : s.phase}: ${s.halt.reason}`)
  if (s.rolledBackBy !== undefined) out.push(`  rollback deployment: ${s.rolledBackBy}`)
  if (s.rollbackOf !== undefined) out.push(`  rollback of: ${s.rollbackOf}`)
  if (s.supersededBy !== undefined) out.push(`  superseded by: ${s.supersededBy}`)
  for (const w of s.waves) {
    const spec = s.spec.waves[w.index]
    out.push(`  wave ${w.index + 1}: ${w.percent}%${spec === undefined || spec.soakMs === 0 ? '' : `, soak ${formatDuration(spec.soakMs)}`}, ${w.openedAt === undefined ? 'not opened' : `${w.size} devices: ${counts(w.counts)}`}`)
  }
  out.push(`  all: ${counts(s.counts)}`)
  for (const [cls, c] of Object.entries(s.classes)) out.push(`  class ${cls}: ${counts(c)}`)
  for (const d of s.devices ?? []) {
    out.push(`    ${d.deviceId.padEnd(28)} ${d.state.padEnd(10)} wave ${d.wave + 1} attempts ${d.attempts}${d.resultCode === undefined ? '' : ` result ${d.resultCode} ext 0x${(d.extendedResultCode ?? 0).toString(16).padStart(8, '0')}`}${d.resultDetails === undefined || d.resultDetails === '' ? '' : ` ${d.resultDetails}`}`)
  }
  return `${out.join('\n')}\n`
}

/**
 * The service's warnings first, where they are seen: `warning [CODE]: message (first found …; last confirmed … after
 * the start|a reconnect, by N checks)`. The service keeps only what its last check found, so each line is current.
 */
function warningLines (warnings: readonly ServiceWarning[] | undefined): string[] {
  return (warnings ?? []).map((w) => `warning [${w.code}]: ${w.message} (first found ${w.at}; last confirmed ${w.confirmedAt} ` +
    `${w.confirmedAfter === 'start' ? 'at the start' : 'after a reconnect'}, by ${w.confirmations} check${w.confirmations === 1 ? '' : 's'})`)
}

interface Overview { warnings?: readonly ServiceWarning[]; deployments: DeploymentStatus[]; groups: GroupCompliance[]; updates: { key: string; deployable: boolean; files: number }[] }

function formatOverview (r: Overview): string {
  const out: string[] = warningLines(r.warnings)
  out.push(r.updates.length === 0 ? 'no updates imported' : 'updates:')
  for (const u of r.updates) out.push(`  ${u.key}${u.deployable ? '' : ' (not deployable: a child update)'}, ${u.files} file${u.files === 1 ? '' : 's'}`)
  out.push(r.deployments.length === 0 ? 'no deployments' : 'deployments:')
  for (const d of r.deployments) out.push(`  ${d.id}: ${d.update} to ${d.groupId}, ${d.state} (${d.phase}), ${counts(d.counts)}${d.halt === undefined ? '' : `; ${d.halt.reason}`}`)
  if (r.groups.length > 0) out.push('groups:')
  for (const g of r.groups) out.push(`  ${g.groupId}: ${g.devices} devices, on latest update ${g.onLatestUpdate}, update in progress ${g.updateInProgress}, new updates available ${g.newUpdatesAvailable}${g.deployment === undefined ? '' : `; deployment ${g.deployment.id} ${g.deployment.state}`}`)
  return `${out.join('\n')}\n`
}
