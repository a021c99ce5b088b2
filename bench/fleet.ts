/**
 * `npm run bench:fleet`: how fast a fleet comes online, what it publishes, and what it costs in memory.
 *
 * Cases (each in its own process): HomeFleet devices on the embedded broker in-process (1,000 and 10,000) and over
 * TCP (1,000); the same 1,000 over TCP against a real mosquitto (when installed); and baselines run in the same
 * invocation: bare MQTT.js clients with the same session shape against plain aedes and against our broker.
 * Prints one JSON object per case (the median of `--repeat N` runs, default 3, with every sample), then a summary
 * object with ratios; `--quick` runs smaller cases once.
 * Every case is bounded: fixed device counts, a 5 s measurement window, a 5-minute time-out per run.
 *
 * `--scale` (`npm run bench:fleet100k`) runs the fleet-scale cases instead, once each: 100,000 in-process devices
 * (telemetry every 10 s) on the embedded broker in a thread of its own (as `fleet run` runs a fleet that size;
 * `--same-thread` adds the same case with the broker in the devices' thread) and 10,000 over TCP to the embedded
 * broker in a process of its own. Each reports the online
 * time, the connect ramp (devices online at 10, 20, … s), peak RSS and RSS per device, the telemetry rate, and a
 * sequence check over a 25 s window (an observer subscribed to all telemetry counts per-device gaps and duplicates;
 * every device must report). Target: 100,000 online in < 60 s and < 4 GB RSS, no gaps. `--devices N` scales the
 * in-process case down for a smoke run.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { MOSQUITTO, startBroker } from './brokers.ts'
import type { BenchCase } from './fleet-case.ts'
import { loadavg } from 'node:os'

const quick = process.argv.includes('--quick')
const big = quick ? 2000 : 10_000
const small = quick ? 500 : 1000
const windowMs = quick ? 3000 : 5000
// Connect times on a 2-core machine vary run to run (the broker and the clients share the cores), so every case
// runs `repeat` times in fresh processes and reports the median run, with all samples.
const repeatArg = process.argv.indexOf('--repeat')
const repeat = repeatArg > 0 ? Math.max(1, Math.min(9, Number(process.argv[repeatArg + 1]) || 3)) : (quick ? 1 : 3)
const base = { telemetryMs: 1000, windowMs, connectRate: 0 }

async function runCase (c: BenchCase): Promise<Record<string, unknown>> {
  const runs: Array<Record<string, unknown>> = []
  for (let i = 0; i < repeat; i++) runs.push(await runOnce(c))
  const sorted = [...runs].sort((a, b) => (a.onlineMs as number) - (b.onlineMs as number))
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as Record<string, unknown>
  return { ...median, runs: runs.length, onlineMsSamples: runs.map((r) => r.onlineMs), cpuPctSamples: runs.map((r) => r.cpuPctWindow), rssMbPeakMax: Math.max(...runs.map((r) => r.rssMbPeak as number)) }
}

function runOnce (c: BenchCase, nodeArgs: readonly string[] = [], timeoutMs = 5 * 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(import.meta.dirname, 'fleet-case.ts'), JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').pop() ?? ''
      if (code !== 0 || line === '') { reject(new Error(`case ${c.name} exited ${code}`)); return }
      resolve(JSON.parse(line) as Record<string, unknown>)
    })
  })
}

async function withMosquitto<T> (fn: (url: string) => Promise<T>): Promise<T | undefined> {
  if (MOSQUITTO === undefined) { process.stderr.write('mosquitto not installed: skipping the mosquitto case\n'); return undefined }
  const b = await startBroker('mosquitto', ['max_connections -1'])
  try {
    return await fn(b.url)
  } finally {
    await b.stop()
  }
}

const results: Array<Record<string, unknown>> = []
const record = (r: Record<string, unknown>): void => { results.push(r); process.stdout.write(JSON.stringify(r) + '\n') }

if (process.argv.includes('--scale')) {
  const devicesArg = process.argv.indexOf('--devices')
  const n = devicesArg > 0 ? Math.max(100, Math.min(100_000, Number(process.argv[devicesArg + 1]) || 100_000)) : 100_000
  // Bounded: at most 3 minutes to connect (the case then reports how far it got), a 25 s window, 2 minutes to stop.
  const scale = { telemetryMs: 10_000, windowMs: 25_000, connectRate: 0, observe: true, ramp: true, stopTimeoutMs: 120_000, connectDeadlineMs: 180_000 }
  const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100)
  const loadBefore = load()
  // The heap of 100,000 devices (~2.7 GB live) is near V8's default old-space limit (about 4 GB here), where it would
  // collect garbage almost continuously: give it room (RSS, not the limit, is what the target bounds). Larger
  // semi-spaces promote less of the connect storm's short-lived garbage (docs/performance.md, "Fleet scale").
  // The embedded broker runs in a thread of its own, as `fleet run` does for a fleet this size (--broker-thread auto);
  // `--same-thread` also runs the case with the broker in the devices' thread, for the comparison in the same run.
  const heapArgs = ['--max-old-space-size=8192', '--max-semi-space-size=32']
  const inproc = await runOnce({ ...scale, name: `homefleet-inproc-${n}`, clients: 'homefleet', broker: 'thread', transport: 'inproc', devices: n, connectConcurrency: 1000 }, heapArgs, 8 * 60_000)
  record(inproc)
  if (process.argv.includes('--same-thread')) {
    record(await runOnce({ ...scale, name: `homefleet-inproc-${n}-same-thread`, clients: 'homefleet', broker: 'embedded', transport: 'inproc', devices: n, connectConcurrency: 1000 }, heapArgs, 8 * 60_000))
  }
  // 10,000 TCP connections in one process would need 20,000 descriptors (both ends): the broker runs in its own
  // process, as `fleet broker` would, and the devices connect to it.
  const tcpN = Math.min(10_000, n)
  const b = await startBroker('homefleet')
  try {
    record(await runOnce({ ...scale, name: `homefleet-tcp-${tcpN}`, clients: 'homefleet', broker: 'url', transport: 'tcp', devices: tcpN, url: b.url, brokerPid: b.pid, connectConcurrency: 500 }, [], 8 * 60_000))
  } finally {
    await b.stop()
  }
  const tel = inproc.telemetry as { ok?: boolean } | undefined
  process.stdout.write(JSON.stringify({
    summary: 'bench:fleet --scale',
    node: process.version,
    loadavgBefore: loadBefore,
    loadavgAfter: load(),
    targets: { devices: n, onlineMsMax: 60_000, rssMbMax: 4096, telemetryGaps: 0 },
    meetsTarget: inproc.onlineMs !== null && (inproc.onlineMs as number) < 60_000 && (inproc.rssMbPeak as number) < 4096 && tel?.ok === true
  }) + '\n')
  process.exit(0)
}

record(await runCase({ ...base, name: `homefleet-inproc-${small}`, clients: 'homefleet', broker: 'embedded', transport: 'inproc', devices: small }))
record(await runCase({ ...base, name: `homefleet-inproc-${big}`, clients: 'homefleet', broker: 'embedded', transport: 'inproc', devices: big }))
record(await runCase({ ...base, name: `homefleet-tcp-${small}`, clients: 'homefleet', broker: 'embedded', transport: 'tcp', devices: small }))
record(await runCase({ ...base, name: `bare-clients-embedded-tcp-${small}`, clients: 'bare', broker: 'embedded', transport: 'tcp', devices: small }))
record(await runCase({ ...base, name: `bare-clients-plain-aedes-tcp-${small}`, clients: 'bare', broker: 'aedes', transport: 'tcp', devices: small }))
await withMosquitto(async (url) => {
  record(await runCase({ ...base, name: `homefleet-mosquitto-tcp-${small}`, clients: 'homefleet', broker: 'url', transport: 'tcp', devices: small, url }))
  record(await runCase({ ...base, name: `bare-clients-mosquitto-tcp-${small}`, clients: 'bare', broker: 'url', transport: 'tcp', devices: small, url }))
})

const get = (name: string): Record<string, number> | undefined => results.find((r) => r.case === name) as Record<string, number> | undefined
const ratio = (a: number | undefined, b: number | undefined): number | null => a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100
const inprocBig = get(`homefleet-inproc-${big}`)
const summary = {
  summary: 'bench:fleet',
  node: process.version,
  targets: { devices: big, onlineMsMax: 20_000, rssMbMax: 1536 },
  [`inproc${big}OnlineMs`]: inprocBig?.onlineMs,
  [`inproc${big}RssMbPeak`]: inprocBig?.rssMbPeakMax,
  meetsTarget: inprocBig !== undefined && (inprocBig.onlineMs ?? Infinity) < 20_000 && (inprocBig.rssMbPeakMax ?? Infinity) < 1536,
  // Ratios against baselines run in this same invocation (higher onlineMs ratio = slower than the baseline).
  onlineMsHomefleetVsBareClientsEmbeddedTcp: ratio(get(`homefleet-tcp-${small}`)?.onlineMs, get(`bare-clients-embedded-tcp-${small}`)?.onlineMs),
  onlineMsEmbeddedVsPlainAedesBareClients: ratio(get(`bare-clients-embedded-tcp-${small}`)?.onlineMs, get(`bare-clients-plain-aedes-tcp-${small}`)?.onlineMs),
  onlineMsEmbeddedVsMosquittoHomefleet: ratio(get(`homefleet-tcp-${small}`)?.onlineMs, get(`homefleet-mosquitto-tcp-${small}`)?.onlineMs)
}
process.stdout.write(JSON.stringify(summary) + '\n')
