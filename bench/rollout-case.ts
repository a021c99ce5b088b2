/**
 * One case of the rollout benchmark, in its own process: a fleet of speakers with the update agent (MQTT.js clients
 * over TCP to the case's broker), the controller (bench/rollout-controller.ts: the rollout service or the baseline
 * script) in a child process whose CPU and memory are read from /proc, the rollout from the first offer to the end,
 * and the check that no device is left in between. Prints one JSON line on stdout; exits 1 when a device is left in
 * between or the rollout did not end in time (naming the devices), 0 otherwise.
 *
 *   node --import tsx bench/rollout-case.ts '<json RolloutCase>'   (bench/rollout.ts runs the cases)
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Fleet, planFleet } from '../devices/fleet.ts'
import { updateAgent, type UpdateFaultSpec } from '../devices/update-agent.ts'
import { RolloutClient } from '../bridge/rollout/client.ts'
import type { DeploymentStatus } from '../bridge/rollout/engine.ts'
import type { DeploymentInput } from '../bridge/rollout/model.ts'
import { agentView, benchManifest, BENCH_FROM, BENCH_MODEL, BENCH_UPDATE_KEY, findInBetween, type AgentView } from './rollout-check.ts'

export interface RolloutCase {
  name: string
  controller: 'service' | 'baseline'
  url: string
  devices: number
  fileSize: number
  /** The agent's simulated times, scaled down (ms of real time). */
  installMs: number
  rebootMs: number
  bandwidth: number
  faults: UpdateFaultSpec[]
  /** The deployment (service only). */
  deployment: DeploymentInput
  /** The whole rollout must end within this (ms), or the case fails naming the devices in between. */
  timeoutMs: number
}

interface Stats {
  type: 'stats'
  stats: { received: number; sent: number; receivedBy: Record<string, number>; sentBy: Record<string, number> }
  writes: { transactions: number; deployments: number; records: number }
  records: [string, string][]
  cpuUserUs: number
  cpuSystemUs: number
  maxRssKiB: number
}

const c = JSON.parse(process.argv[2] ?? '{}') as RolloutCase
const log = (msg: string): void => { process.stderr.write(`[${c.name}] ${msg}\n`) }
const TICK = 100 // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** User + system CPU seconds of a process, from /proc/<pid>/stat (fields 14 and 15). */
function cpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICK
}
function peakRssMiB (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Math.round(Number(m[1]) / 1024)
}

function waitFor<T> (what: string, ms: number, start: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    start((v) => { clearTimeout(timer); resolve(v) }, (e) => { clearTimeout(timer); reject(e) })
  })
}

function message<T extends { type: string }> (child: ChildProcess, type: string, ms: number, what: string): Promise<T> {
  return waitFor<T>(what, ms, (resolve, reject) => {
    const onMessage = (m: { type: string }): void => { if (m.type === type) { child.off('message', onMessage); child.off('exit', onExit); resolve(m as T) } }
    const onExit = (code: number | null): void => { reject(new Error(`the ${c.controller} controller exited (${code}) while ${what}`)) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

const specs = planFleet({ demoHome: false, groups: [{ kind: 'speaker', count: c.devices, model: BENCH_MODEL, firmware: BENCH_FROM, telemetryIntervalMs: 3_600_000 }] })
const fleet = new Fleet(specs, {
  target: { url: c.url },
  seed: 1,
  connectRate: 0,
  connectConcurrency: 500,
  connectTimeoutMs: 120_000,
  publishLogLevel: 'silent',
  capabilities: [updateAgent({ installMs: c.installMs, rebootMs: c.rebootMs, bandwidth: c.bandwidth, downloadTimeoutMs: 60_000, faults: c.faults })]
})
const onlineMs = (await fleet.start()).ms
log(`${specs.length} devices online in ${Math.round(onlineMs)} ms`)

const dataDir = mkdtempSync(join(tmpdir(), 'homefleet-rollout-bench-'))
const controller = fork(join(import.meta.dirname, 'rollout-controller.ts'), [c.controller, c.url, dataDir, String(c.fileSize)], {
  // BENCH_ROLLOUT_CPU_PROF=DIR profiles the controller (node --cpu-prof), written to DIR when it stops.
  execArgv: ['--import', 'tsx', ...(process.env.BENCH_ROLLOUT_CPU_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_ROLLOUT_CPU_PROF])], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
})
const pid = controller.pid as number
const startCpu0 = cpuSeconds(pid)
const ready = await message<{ type: 'ready'; devices: number }>(controller, 'ready', 120_000, 'the controller to hear the fleet')
const startupCpuS = cpuSeconds(pid) - startCpu0
log(`${c.controller} ready, knows ${ready.devices} devices`)

const before = fleet.counters()
const cpu0 = cpuSeconds(pid)
const t0 = performance.now()
let final: DeploymentStatus | undefined
let rolloutClient: RolloutClient | undefined
let outcome: 'ended' | 'timed out' = 'ended'
let error: string | undefined

try {
  if (c.controller === 'service') {
    const client = await RolloutClient.connect({ target: { url: c.url }, timeoutMs: 60_000 })
    rolloutClient = client
    await client.request('import', { manifests: [benchManifest(c.fileSize)] })
    const id = c.deployment.id as string
    let lastLine = 0
    final = await waitFor<DeploymentStatus>('the deployment to end', c.timeoutMs, (resolve, reject) => {
      client.watchDeployment(id, (s) => {
        const now = performance.now()
        if (now - lastLine > 5000) { lastLine = now; log(`wave ${s.currentWave + 1}/${s.waves.length} ${s.phase}: ${JSON.stringify(s.counts)}`) }
        if (s.phase !== 'running' && s.phase !== 'scheduled' && s.phase !== 'paused') resolve(s)
      }).then(() => client.request('deploy', c.deployment as unknown as Record<string, unknown>), reject).catch(reject)
    })
  } else {
    controller.send({ type: 'go' })
    await message(controller, 'done', c.timeoutMs, 'every device to report the end of its update')
  }
} catch (err) {
  outcome = 'timed out'
  error = (err as Error).message
}
const wallMs = performance.now() - t0
const cpuS = cpuSeconds(pid) - cpu0
const stats = message<Stats>(controller, 'stats', 30_000, 'the controller\'s figures').then((s) => s, (err: unknown) => { error ??= (err as Error).message; return undefined })
controller.send({ type: 'stats', ...(c.controller === 'service' ? { deploymentId: c.deployment.id } : {}) })
const st = await stats
const after = fleet.counters()

// The end state: every device of the fleet is targeted (all are speakers of the update's model in $default).
const controllerStates = new Map(st?.records ?? [])
const agents = new Map<string, AgentView>(fleet.devices.map((d) => [d.id, agentView(d)]))
const inBetween = findInBetween(specs.map((s) => s.id), controllerStates, agents, BENCH_UPDATE_KEY)
const byState: Record<string, number> = {}
for (const s of controllerStates.values()) byState[s] = (byState[s] ?? 0) + 1

const n = specs.length
const per = (v: number | undefined): number | null => v === undefined ? null : Math.round((v / n) * 100) / 100
const result = {
  case: c.name,
  controller: c.controller,
  devices: n,
  outcome,
  ...(error === undefined ? {} : { error }),
  ...(final === undefined ? {} : { phase: final.phase, state: final.state, waves: final.waves.map((w) => ({ size: w.size, counts: w.counts })) }),
  deviceStates: byState,
  inBetween: inBetween.length,
  wallS: Math.round(wallMs / 100) / 10,
  controllerCpuS: Math.round(cpuS * 100) / 100,
  controllerCpuPctOfCore: Math.round((cpuS / (wallMs / 1000)) * 1000) / 10,
  controllerStartupCpuS: Math.round(startupCpuS * 100) / 100,
  controllerCpuMsPerDevice: Math.round((cpuS * 1000 / n) * 100) / 100,
  controllerPeakRssMiB: peakRssMiB(pid),
  controllerMsgsInPerDevice: per(st?.stats.received),
  controllerMsgsOutPerDevice: per(st?.stats.sent),
  controllerInByKindPerDevice: Object.fromEntries(Object.entries(st?.stats.receivedBy ?? {}).map(([k, v]) => [k, per(v)])),
  controllerOutByKindPerDevice: Object.fromEntries(Object.entries(st?.stats.sentBy ?? {}).map(([k, v]) => [k, per(v)])),
  deviceMsgsOutPerDevice: per(after.messagesOut - before.messagesOut),
  sqlite: st?.writes ?? null,
  fleetOnlineMs: Math.round(onlineMs),
  devicesKnownAtStart: ready.devices
}
process.stdout.write(JSON.stringify(result) + '\n')
if (inBetween.length > 0) {
  log(`${inBetween.length} device(s) left in between, e.g.:`)
  for (const b of inBetween.slice(0, 20)) log(`  ${b.deviceId}: ${b.why} (controller ${b.controller}, agent state ${b.agentState ?? '-'}, running ${b.installed ?? '-'})`)
}

await rolloutClient?.close()
controller.send({ type: 'stop' })
await waitFor<void>('the controller to stop', 30_000, (resolve) => { controller.once('exit', () => { resolve() }) }).catch(() => { controller.kill('SIGKILL') })
await fleet.stop()
rmSync(dataDir, { recursive: true, force: true })
process.exit(inBetween.length > 0 || outcome !== 'ended' ? 1 : 0)
