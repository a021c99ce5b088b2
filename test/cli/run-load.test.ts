/**
 * `fleet run` under load, as a real process: 1,809 devices at --speed 60 on the embedded broker once ended in
 * `RangeError: Maximum call stack size exceeded` inside the broker's router, after (or instead of) the report, and
 * turned a PASSED into exit 1. Whatever the machine makes of the load, the process must print its report and exit
 * with the code the report's result gives.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { exitCodeOf } from '../../scenarios/index.ts'
import { FLEET_BIN, REPO_ROOT } from './helpers.ts'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const SCENARIO = `
name: fast and wide
seed: 11
duration: 4s
fleet:
  demoHome: true
  homes: 200
timeline:
  - { at: 1s, command: mute, target: { kind: speaker }, expect: any }
expect:
  online: { target: { kind: camera } }
`

/** Bound on the whole process: start-up, 1,809 devices coming online on a busy machine, 4 s, tear-down. */
const PROCESS_TIMEOUT_MS = 150_000

function runFleet (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [FLEET_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`fleet ${args.join(' ')} did not end within ${PROCESS_TIMEOUT_MS} ms; stderr: ${stderr.slice(-500)}`))
    }, PROCESS_TIMEOUT_MS)
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

describe('fleet run under load (real process)', () => {
  it('1,809 devices at --speed 60: the report is printed and the exit code is the report\'s, never a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'homefleet-load-'))
    dirs.push(dir)
    const file = join(dir, 'fast.yaml')
    writeFileSync(file, SCENARIO)
    const reportFile = join(dir, 'report.json')
    const r = await runFleet(['run', file, '--speed', '60', '--quiet', '--report', reportFile])
    expect(r.stderr).not.toMatch(/RangeError|Maximum call stack|unexpected error/)
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { result: 'passed' | 'failed' | 'inconclusive' | 'aborted' | 'broker-lost'; fleet: { devices: number } }
    expect(report.fleet.devices).toBe(1809)
    expect(r.stdout).toMatch(/\n(PASSED|FAILED|INCONCLUSIVE) — /)
    expect(r.code).toBe(exitCodeOf(report))
  }, PROCESS_TIMEOUT_MS + 10_000)
})
