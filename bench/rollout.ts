/**
 * `npm run bench:rollout`: a staged firmware rollout to 10,000 simulated devices, and the same update pushed by the
 * simplest possible script, in the same run.
 *
 * Each case runs in its own process (bench/rollout-case.ts) against a fresh broker (mosquitto by default, in its own
 * process, ended by its PID); the fleet (speakers with the update agent, download/install/reboot scaled down to a
 * fraction of a second) is in the case's process, the controller in a child of it, so the controller's CPU time and
 * peak RSS (read from /proc) are its alone.
 *
 * - `service`: HomeFleet's rollout service: four waves (1 %, 10 %, 50 %, 100 % of the remaining devices) with soak
 *   times, success and error thresholds, an in-progress timeout and one retry; 0.5 % of install attempts fail.
 * - `baseline`: one desired-twin write per device, files from memory, done when every device has reported its end:
 *   no waves, gates, timeouts, retries, persistence or status topics.
 *
 * Prints one JSON line per case and a summary line with the ratios service ÷ baseline, and a short human summary on
 * stderr. Exits 1 when a case fails: a device left in between (named on stderr), a rollout that did not end within
 * --timeout, or the service over the target (50 % of one core over the rollout).
 *
 * Usage: rollout.ts [--devices 10000] [--file-size 16384] [--broker mosquitto|homefleet] [--timeout 600s]
 *                   [--cases service,baseline]
 */
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { DeploymentStatus } from '../bridge/rollout/engine.ts'
import { createMqttClient, endClient, waitConnected } from '../core/mqtt-connect.ts'
import { createTopics } from '../core/topics.ts'
import { startBroker, type BrokerKind } from './brokers.ts'
import type { RolloutCase } from './rollout-case.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i === -1 ? undefined : args[i + 1] }
const usage = (msg: string): never => { process.stderr.write(`bench:rollout: ${msg}\nusage: rollout.ts [--devices N] [--file-size BYTES] [--broker mosquitto|homefleet] [--timeout SECONDS] [--cases service,baseline]\n`); process.exit(2) }
const int = (name: string, def: number, min: number, max: number): number => {
  const v = flag(name)
  if (v === undefined) return def
  const n = Number(v.replace(/s$/, ''))
  if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be a whole number ${min}–${max}, got ${JSON.stringify(v)}`)
  return n
}
const devices = int('--devices', 10_000, 1, 50_000)
const fileSize = int('--file-size', 16_384, 1, 1_048_576)
const timeoutMs = int('--timeout', 600, 10, 3600) * 1000
const broker = (flag('--broker') ?? 'mosquitto') as BrokerKind
if (broker !== 'mosquitto' && broker !== 'homefleet') usage(`--broker must be mosquitto or homefleet, got ${JSON.stringify(broker)}`)
const cases = (flag('--cases') ?? 'service,baseline').split(',')
if (cases.some((k) => k !== 'service' && k !== 'baseline')) usage(`--cases must list service and/or baseline, got ${JSON.stringify(flag('--cases'))}`)
const TARGET_CPU_PCT = 50

const common = {
  devices, fileSize,
  installMs: 300, rebootMs: 300,
  // The file takes 100 ms to download at this bandwidth.
  bandwidth: fileSize * 10,
  faults: [{ fault: 'installFailure' as const, probability: 0.005 }],
  timeoutMs
}
const deployment = {
  id: 'bench-rollout',
  update: 'Xiaomi/speaker-l09a/9.0.0',
  waves: [
    { percent: 1, soak: '2s', successThreshold: 95, errorThreshold: 5 },
    { percent: 10, soak: '2s', successThreshold: 95, errorThreshold: 5 },
    { percent: 50, soak: '1s', successThreshold: 95, errorThreshold: 5 },
    { percent: 100, soak: '0s', successThreshold: 95, errorThreshold: 5 }
  ],
  inProgressTimeout: '2m',
  retries: 1
}

function runCase (c: RolloutCase): Promise<{ code: number; result: Record<string, unknown> | undefined }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'rollout-case.ts'), JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    // The case bounds the rollout itself; this bounds the whole case (fleet start and stop included).
    const timer = setTimeout(() => { process.stderr.write(`bench:rollout: case ${c.name} did not finish within ${Math.round((timeoutMs + 300_000) / 1000)} s; killed\n`); child.kill('SIGKILL') }, timeoutMs + 300_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').pop() ?? ''
      let result: Record<string, unknown> | undefined
      try { result = line === '' ? undefined : JSON.parse(line) as Record<string, unknown> } catch { result = undefined }
      resolve({ code: code ?? 1, result })
    })
  })
}

const load0 = loadavg()
const results = new Map<string, Record<string, unknown>>()
let failed = false
for (const kind of cases as ('service' | 'baseline')[]) {
  // A fresh broker per case: no case inherits another's retained twins or connections.
  // mosquitto queues at most 1,000 QoS 1 messages per client by default (max_queued_messages) and drops the rest,
  // retained ones on subscribe included: a controller subscribing to 10,000 retained reports would hear 1,020.
  const b = await startBroker(broker, broker === 'mosquitto' ? ['max_connections -1', 'max_queued_messages 0'] : [])
  // This process is idle while a case runs: it watches the deployment's retained status topic as any MQTT client
  // would, to see how fresh the live status is (the fleet's process is too busy to time it fairly).
  const watcher = kind === 'service' ? await watchStatus(b.url) : undefined
  try {
    const { code, result } = await runCase({ ...common, name: `${kind}-${devices}`, controller: kind, url: b.url, deployment })
    if (result === undefined) { process.stdout.write(JSON.stringify({ case: `${kind}-${devices}`, error: `exited ${code} without a result` }) + '\n'); failed = true; continue }
    const status = watcher === undefined ? {} : { statusUpdates: watcher.updates, statusLagAtEndMs: watcher.lagAtEndMs() }
    process.stdout.write(JSON.stringify({ ...result, ...status, broker }) + '\n')
    results.set(kind, result)
    if (code !== 0) failed = true
  } finally {
    await watcher?.close()
    await b.stop()
  }
}

/**
 * Watch the benchmark deployment's status topic and the devices' reported twins, as any MQTT client could, on one
 * connection (so the broker's order holds between them): how many status updates arrived, and how long after the
 * last device reported the end of its update the status said the deployment had completed (its lag at the end).
 */
async function watchStatus (url: string): Promise<{ updates: number; lagAtEndMs: () => number | null; close: () => Promise<void> }> {
  const topics = createTopics()
  const statusTopic = topics.rolloutDeployment(deployment.id)
  const observer = createMqttClient({ url }, { clean: true, reconnectPeriod: 0 })
  await waitConnected(observer, { url }, 10_000)
  let lastDeviceEnd: number | undefined
  let completedAt: number | undefined
  const w = {
    updates: 0,
    lagAtEndMs: () => completedAt === undefined || lastDeviceEnd === undefined ? null : Math.round(completedAt - lastDeviceEnd),
    close: () => endClient(observer)
  }
  observer.on('message', (topic, payload) => {
    const text = payload.toString('utf8')
    try {
      if (topic === statusTopic) {
        w.updates++
        if ((JSON.parse(text) as DeploymentStatus).phase === 'completed') completedAt ??= performance.now()
        return
      }
      // Only a device's last report of an attempt carries a result with state 0 (Idle) or 255 (Failed).
      if (!text.includes('lastInstallResult')) return
      const agent = (JSON.parse(text) as { deviceUpdate?: { agent?: { state?: number } } }).deviceUpdate?.agent
      if (agent?.state === 0 || agent?.state === 255) lastDeviceEnd = performance.now()
    } catch { /* not JSON: neither a status nor a device's end */ }
  })
  await observer.subscribeAsync([topics.filter('reported'), statusTopic], { qos: 0 })
  return w
}

const s = results.get('service')
const base = results.get('baseline')
const num = (r: Record<string, unknown> | undefined, k: string): number | undefined => typeof r?.[k] === 'number' ? r[k] : undefined
const ratio = (k: string): number | null => {
  const a = num(s, k); const b = num(base, k)
  return a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100
}
const cpuPct = num(s, 'controllerCpuPctOfCore')
const meets = s !== undefined && s.outcome === 'ended' && s.inBetween === 0 && cpuPct !== undefined && cpuPct < TARGET_CPU_PCT
if (s !== undefined && !meets) failed = true
const summary = {
  summary: 'bench:rollout',
  node: process.version,
  broker,
  devices,
  fileSize,
  loadavgAtStart: load0.map((l) => Math.round(l * 100) / 100),
  loadavgAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
  target: { serviceCpuPctOfCoreBelow: TARGET_CPU_PCT, inBetween: 0 },
  meetsTarget: s === undefined ? null : meets,
  // Service ÷ baseline, measured in this same run.
  cpuSecondsServiceVsBaseline: ratio('controllerCpuS'),
  wallServiceVsBaseline: ratio('wallS'),
  msgsInPerDeviceServiceVsBaseline: ratio('controllerMsgsInPerDevice'),
  msgsOutPerDeviceServiceVsBaseline: ratio('controllerMsgsOutPerDevice'),
  peakRssServiceVsBaseline: ratio('controllerPeakRssMiB')
}
process.stdout.write(JSON.stringify(summary) + '\n')

const line = (name: string, r: Record<string, unknown> | undefined): string => r === undefined ? `  ${name}: no result` :
  `  ${name}: ${String(r.wallS)} s, CPU ${String(r.controllerCpuS)} s = ${String(r.controllerCpuPctOfCore)} % of a core (${String(r.controllerCpuMsPerDevice)} ms/device), peak RSS ${String(r.controllerPeakRssMiB)} MiB, msgs/device in ${String(r.controllerMsgsInPerDevice)} out ${String(r.controllerMsgsOutPerDevice)}, in between: ${String(r.inBetween)}`
process.stderr.write([
  `bench:rollout, ${devices} devices on ${broker}, Node ${process.version}, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
  line('rollout service', s),
  line('baseline script', base),
  `  service ÷ baseline: CPU ${String(summary.cpuSecondsServiceVsBaseline)}, wall ${String(summary.wallServiceVsBaseline)}, msgs in ${String(summary.msgsInPerDeviceServiceVsBaseline)}, out ${String(summary.msgsOutPerDeviceServiceVsBaseline)}`,
  s === undefined ? '' : `  target (service < ${TARGET_CPU_PCT} % of one core, none in between): ${meets ? 'met' : 'NOT met'}`
].join('\n') + '\n')
process.exit(failed ? 1 : 0)
