/**
 * Soak: the built-in demo run again and again (`fleet run demo`, a real process each time) against one mosquitto,
 * while busy threads keep every core loaded; prints each run's result and how many passed. Not part of CI.
 *
 * Usage: npm run soak [-- --runs 20 --load 2]
 *   --runs N    demo runs, one after another (default 20)
 *   --load N    busy threads loading the CPU meanwhile (default: one per core)
 * The last line is machine-readable: {"soak":"demo","runs":20,"passed":20,"results":{…},"ms":…}
 */
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { startMosquitto } from '../test/helpers/mosquitto.ts'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, load: { type: 'string' } } })
const runs = Number(values.runs)
const load = values.load === undefined ? availableParallelism() : Number(values.load)
if (!Number.isInteger(runs) || runs < 1 || runs > 1000 || !Number.isInteger(load) || load < 0 || load > 64) {
  console.error('usage: npm run soak [-- --runs N (1..1000) --load N (0..64)]')
  process.exit(2)
}
const FLEET_BIN = fileURLToPath(new URL('../bin/fleet.js', import.meta.url))
/** One run's bound: the demo is 22 s of timeline; a loaded machine is slower, a hung run is what a soak is for. */
const RUN_TIMEOUT_MS = 180_000

// Busy threads: each spins in slices until told to stop (bounded: they end with the soak).
const BUSY = `
const { parentPort } = require('node:worker_threads')
let stop = false
parentPort.on('message', () => { stop = true })
const spin = () => { const until = Date.now() + 50; while (Date.now() < until) {} if (!stop) setImmediate(spin); else process.exit(0) }
spin()
`
const workers = Array.from({ length: load }, () => new Worker(BUSY, { eval: true }))

function runDemo (url: string): Promise<{ code: number | null; last: string; ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [FLEET_BIN, 'run', 'demo', '--broker', url, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => { out += '\nHUNG: killed after the run time-out'; proc.kill('SIGKILL') }, RUN_TIMEOUT_MS)
    proc.on('close', (code) => {
      clearTimeout(timer)
      const lines = out.trim().split('\n')
      resolve({ code, last: lines.filter((l) => /^(PASSED|FAILED|INCONCLUSIVE|ABORTED|BROKER LOST|HUNG|FLEET_ERR)/.test(l)).join(' | ') || (lines.at(-1) ?? ''), ms: performance.now() - t0 })
    })
  })
}

const broker = await startMosquitto()
const t0 = performance.now()
const results: Record<string, number> = {}
let passed = 0
try {
  console.log(`soak: ${runs} demo runs against mosquitto ${broker.url}, ${load} busy thread(s) on ${availableParallelism()} core(s)`)
  for (let i = 1; i <= runs; i++) {
    const r = await runDemo(broker.url)
    const key = r.code === null ? 'killed' : `exit ${r.code}`
    results[key] = (results[key] ?? 0) + 1
    if (r.code === 0) passed++
    console.log(`run ${String(i).padStart(2)}: ${key} in ${(r.ms / 1000).toFixed(1)}s — ${r.last.slice(0, 300)}`)
  }
} finally {
  for (const w of workers) w.postMessage('stop')
  await broker.stop()
}
console.log(`soak: ${passed} of ${runs} passed`)
console.log(JSON.stringify({ soak: 'demo', runs, passed, results, load, ms: Math.round(performance.now() - t0) }))
