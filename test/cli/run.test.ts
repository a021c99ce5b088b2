/**
 * `fleet run`: exit codes 0 / 1 / 2 / 3 against the real scenario runner, with tiny fleets on the embedded broker.
 * Mostly in-process through `main`; the exit codes that CI relies on are also checked on the real executable.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'

import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { reap, spawnFleet, testIo, type FleetProcess } from './helpers.ts'
import { closedPort } from '../helpers/net.ts'

let dir: string
const file = (name: string): string => join(dir, name)

const SCENARIOS: Record<string, string> = {
  'pass.yaml': `name: tiny pass
duration: 500ms
fleet:
  demoHome: false
  groups:
    - { kind: speaker, count: 2, idPrefix: spk }
timeline:
  - at: 0s
    note: hello
expect:
  online: { target: { kind: speaker } }
`,
  'fail.yaml': `name: tiny fail
duration: 300ms
fleet:
  demoHome: false
  groups:
    - { kind: speaker, count: 1, idPrefix: spk }
expect:
  messages: { topic: "home/+/events/#", min: 1000 }
`,
  'long.yaml': `name: tiny long
duration: 5m
fleet:
  demoHome: false
  groups:
    - { kind: band, count: 1, idPrefix: band }
`,
  'bad.yaml': `name: tiny bad
fleet:
  demoHome: false
  groups:
    - { kind: toaster, count: 1 }
timeline:
  - at: soon
    note: x
`
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-run-'))
  for (const [name, text] of Object.entries(SCENARIOS)) await writeFile(file(name), text)
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const procs: FleetProcess[] = []
afterEach(async () => { await Promise.all(procs.splice(0).map(reap)) })

describe('fleet run (in-process)', () => {
  it('a passing scenario ⇒ exit 0, progress on stderr, the report on stdout, JSON in --report', async () => {
    const io = testIo()
    const report = file('out/pass.json')
    expect(await main(['run', file('pass.yaml'), '--report', report, '--seed', '7'], io)).toBe(0)
    expect(io.err.text).toMatch(/^broker: embedded, mqtt:\/\/127\.0\.0\.1:\d+$/m)
    expect(io.err.text).toMatch(/^online: 2 device\(s\) connected in/m)
    expect(io.err.text).toMatch(/^• {5}0s {2}line 8 {2}hello$/m)
    expect(io.err.text).toMatch(/^✓ at the end: every speaker online/m)
    expect(io.err.text).not.toContain('\r')
    expect(io.out.text).toMatch(/^PASSED/m)
    const json = JSON.parse(await readFile(report, 'utf8')) as { result: string; seed: number; name: string }
    expect(json).toMatchObject({ result: 'passed', seed: 7, name: 'tiny pass' })
  })

  it('a failed expectation ⇒ exit 1; --json prints the report as JSON; --quiet silences progress', async () => {
    const io = testIo()
    expect(await main(['run', file('fail.yaml'), '--json', '--quiet'], io)).toBe(1)
    expect(io.err.text).toBe('')
    expect(JSON.parse(io.out.text)).toMatchObject({ result: 'failed', expectations: { passed: 0, failed: 1 } })
  })

  it('the stop signal aborts the run ⇒ report "aborted", exit 1', async () => {
    const io = testIo()
    const exit = main(['run', file('long.yaml'), '--json'], io)
    await io.err.waitFor(/^online: 1 device/m)
    io.controller.abort()
    expect(await exit).toBe(1)
    expect(JSON.parse(io.out.text)).toMatchObject({ result: 'aborted' })
    expect(io.err.text).toMatch(/fleet run: aborted/)
  })

  it('--log-file gets the structured logs, device logs included', async () => {
    const io = testIo()
    const log = file('logs/run.log')
    expect(await main(['run', file('pass.yaml'), '--log-file', log, '--log-level', 'debug', '--quiet'], io)).toBe(0)
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { msg: string; deviceId?: string })
    expect(lines.some((l) => l.deviceId === 'spk-0001')).toBe(true)
    expect(lines.some((l) => l.msg === 'scenario finished')).toBe(true)
  })

  it('a bad scenario file ⇒ exit 2 with every problem at file:line:column', async () => {
    const io = testIo()
    expect(await main(['run', file('bad.yaml')], io)).toBe(2)
    const bad = file('bad.yaml')
    expect(io.err.lines[0]).toMatch(/^FLEET_ERR_SCENARIO_INVALID: /)
    expect(io.err.text).toContain(`  ${bad}:5:15: fleet.groups[0].kind: must be one of speaker, band, camera, got "toaster"`)
    expect(io.err.text).toContain(`  ${bad}:7:9: timeline[0].at: must be a duration`)
    expect(io.out.text).toBe('')
  })

  it('a missing file that is not a built-in name ⇒ exit 2 naming the built-ins', async () => {
    const io = testIo()
    expect(await main(['run', file('nope.yaml')], io)).toBe(2)
    expect(io.err.text).toMatch(/^FLEET_ERR_SCENARIO_NOT_FOUND: no scenario file ".*nope\.yaml" .*built-ins: demo/)
  })

  it('--port with an external broker ⇒ exit 2; a --report that cannot be written ⇒ exit 2 before the run', async () => {
    const io = testIo()
    expect(await main(['run', file('pass.yaml'), '--broker', 'mqtt://127.0.0.1:1', '--port', '1883'], io)).toBe(2)
    expect(io.err.text).toMatch(/--port sets up the embedded broker, but this run uses mqtt:\/\/127\.0\.0\.1:1/)
    const io2 = testIo()
    expect(await main(['run', file('pass.yaml'), '--report', join(file('pass.yaml'), 'x.json')], io2)).toBe(2)
    expect(io2.err.text).toMatch(/--report ".*x\.json" cannot be written/)
    expect(io2.err.text).not.toMatch(/^broker:/m)
  })

  it.runIf(process.platform === 'linux')('a --report under /proc ⇒ exit 2 at once (no recursive mkdir there)', async () => {
    const io = testIo()
    expect(await main(['run', file('pass.yaml'), '--report', '/proc/homefleet-nope/r.json'], io)).toBe(2)
    expect(io.err.text).toMatch(/--report "\/proc\/homefleet-nope\/r\.json" cannot be written/)
  })

  it('an unreachable --broker ⇒ exit 3', async () => {
    const io = testIo()
    const port = await closedPort()
    expect(await main(['run', file('pass.yaml'), '--broker', `mqtt://127.0.0.1:${port}`], io)).toBe(3)
    expect(io.err.text).toMatch(new RegExp(`FLEET_ERR_BROKER_UNREACHABLE: cannot reach mqtt://127\\.0\\.0\\.1:${port}`))
  })
})

describe('fleet run (real process)', () => {
  it.each([
    { name: 'pass.yaml', code: 0 },
    { name: 'fail.yaml', code: 1 },
    { name: 'bad.yaml', code: 2 }
  ])('$name ⇒ exit $code', async ({ name, code }) => {
    const p = spawnFleet(['run', file(name)])
    procs.push(p)
    expect((await p.exited).code).toBe(code)
    if (name === 'bad.yaml') expect(p.err.text).toContain(`${file('bad.yaml')}:5:15: fleet.groups[0].kind`)
  })

  it('an unreachable --broker ⇒ exit 3', async () => {
    const port = await closedPort()
    const p = spawnFleet(['run', file('pass.yaml'), '--broker', `mqtt://127.0.0.1:${port}`])
    procs.push(p)
    expect(await p.exited).toEqual({ code: 3, signal: null })
    expect(p.err.text).toMatch(/FLEET_ERR_BROKER_UNREACHABLE/)
  })

  it('closed stdout and stderr (a pipe into head) do not crash a passing run: exit 0', async () => {
    const p = spawnFleet(['run', file('pass.yaml')])
    procs.push(p)
    await p.err.waitFor(/^online: /m)
    // The reader goes away mid-run: every later write hits EPIPE.
    p.child.stdout?.destroy()
    p.child.stderr?.destroy()
    expect(await p.exited).toEqual({ code: 0, signal: null })
  })

  it('SIGINT aborts the run: exit 1 with the report', async () => {
    const p = spawnFleet(['run', file('long.yaml')])
    procs.push(p)
    await p.err.waitFor(/^online: 1 device/m)
    p.child.kill('SIGINT')
    expect(await p.exited).toEqual({ code: 1, signal: null })
    expect(p.out.text).toMatch(/^ABORTED/m)
    expect(p.err.text).toMatch(/fleet run: aborted \(SIGINT\)/)
  })
})
