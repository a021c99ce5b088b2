import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FleetError, formatError, formatIssue } from '../../core/errors.ts'
import { BUILTIN_SCENARIOS, builtinScenarioPath, loadScenarioFile, loadScenarioText, targetMatcher } from '../../scenarios/index.ts'
import { planFleet } from '../../devices/fleet.ts'

/** The FleetError a broken file gives, with every issue formatted as `file:line:col: path: message`. */
function problems (text: string, file = 'bad.yaml'): { err: FleetError; lines: string[] } {
  try {
    loadScenarioText(text, file)
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError)
    const e = err as FleetError
    expect(e.code).toBe('FLEET_ERR_SCENARIO_INVALID')
    return { err: e, lines: e.issues.map(formatIssue) }
  }
  throw new Error('expected the scenario to be invalid')
}

const VALID = `# a small but complete scenario
name: Kitchen check
description: one of everything
seed: 7
broker: embedded
prefix: lab/home
speed: 2
fleet:
  demoHome: true
  homes: 2
  groups:
    - { kind: band, count: 3, telemetryInterval: 500ms, room: bedroom, idPrefix: club }
  telemetryInterval: { speaker: 2s }
  firmware: { speaker: 1.5.0 }
  connectRate: 500
timeline:
  - at: 1s
    command: setVolume
    target: { name: kitchen speaker, home: demo }
    args: { level: 30 }
  - at: 00:02
    desired: { volume: 40 }
    target: { device: demo-bedroom-speaker }
  - at: 2.5s
    note: halfway
  - at: 3s
    command: setVolume
    target: { device: demo-kitchen-speaker }
    args: { level: 101 }
    expect: VALUE_OUT_OF_RANGE
    timeout: 2s
  - at: 4s
    within: 1.5s
    expect:
      state: { target: { device: demo-kitchen-speaker }, reported: { volume: 30 } }
      telemetry:
        - { target: { kind: band }, min: 2, noSequenceGaps: true }
        - { target: { device: "club-*" }, noDuplicates: true }
expect:
  online: { target: { kind: camera } }
  messages: { topic: "lab/home/+/events/#", max: 100 }
`

describe('loadScenarioText: a valid file', () => {
  it('checks, converts durations and keeps each step and condition line', () => {
    const s = loadScenarioText(VALID, 'ok.yaml')
    expect(s).toMatchObject({ name: 'Kitchen check', description: 'one of everything', file: 'ok.yaml', seed: 7, broker: 'embedded', prefix: 'lab/home', speed: 2, connectRate: 500 })
    expect(s.fleet).toEqual({
      demoHome: true,
      homes: 2,
      groups: [{ kind: 'band', count: 3, telemetryIntervalMs: 500, room: 'bedroom', idPrefix: 'club' }],
      telemetryIntervalMs: { speaker: 2000 },
      firmware: { speaker: '1.5.0' }
    })
    expect(s.timeline.map((t) => [t.kind, t.atMs, t.line])).toEqual([
      ['command', 1000, 17], ['desired', 2000, 21], ['note', 2500, 24], ['command', 3000, 26], ['check', 4000, 32]
    ])
    const [cmd, , , err, check] = s.timeline
    expect(cmd).toMatchObject({ command: 'setVolume', target: { name: ['kitchen speaker'], home: 'demo' }, args: { level: 30 }, expect: 'ok', timeoutMs: 5000 })
    expect(err).toMatchObject({ expect: 'VALUE_OUT_OF_RANGE', timeoutMs: 2000 })
    expect(check?.kind === 'check' && check.withinMs).toBe(1500)
    if (check?.kind !== 'check') throw new Error('not a check')
    expect(check.conditions.map((c) => [c.type, c.path, c.line])).toEqual([
      ['state', 'timeline[4].expect.state', 35],
      ['telemetry', 'timeline[4].expect.telemetry[0]', 37],
      ['telemetry', 'timeline[4].expect.telemetry[1]', 38]
    ])
    expect(check.conditions[1]).toMatchObject({ min: 2, noSequenceGaps: true, noDuplicates: false })
    expect(check.conditions[2]).toMatchObject({ min: 1, noDuplicates: true, target: { device: ['club-*'] } })
    expect(s.expect.map((c) => [c.type, c.line])).toEqual([['online', 40], ['messages', 41]])
    expect(s.expect[1]).toMatchObject({ min: 0, max: 100 })
  })

  it('fills defaults: seed 1, embedded broker, prefix home, speed 1, duration = last step + 2s', () => {
    const s = loadScenarioText('name: tiny\ntimeline:\n  - { at: 3s, note: hi }\n  - { at: 1s, expect: { online: {} }, within: 4s }\n', 't.yaml')
    expect(s).toMatchObject({ seed: 1, broker: 'embedded', prefix: 'home', speed: 1, durationMs: 7000, fleet: {}, expect: [] })
    expect(s.timeline[1]).toMatchObject({ kind: 'check', conditions: [{ type: 'online', target: { all: true } }] })
  })

  it('ignores top-level x- keys and resolves anchors and merge keys', () => {
    const s = loadScenarioText([
      'name: anchors',
      'x-kitchen: &kitchen { home: demo, name: kitchen speaker }',
      'timeline:',
      '  - { at: 1s, command: mute, target: *kitchen }',
      '  - { at: 2s, command: unmute, target: { <<: *kitchen, room: kitchen } }'
    ].join('\n'), 'a.yaml')
    expect(s.timeline.map((t) => t.kind === 'command' && t.target)).toEqual([
      { home: 'demo', name: ['kitchen speaker'] },
      { home: 'demo', name: ['kitchen speaker'], room: 'kitchen' }
    ])
  })

  it('loads from a file and every built-in scenario loads', async () => {
    expect(BUILTIN_SCENARIOS).toContain('demo')
    for (const name of BUILTIN_SCENARIOS) {
      const file = builtinScenarioPath(name)
      expect(file).toBeDefined()
      const s = await loadScenarioFile(file!)
      expect(s.file).toBe(file)
      expect(s.timeline.length, name).toBeGreaterThanOrEqual(3)
    }
    expect(builtinScenarioPath('nope')).toBeUndefined()
  })
})

describe('loadScenarioText: broken files name file, line and field', () => {
  it('reports a YAML syntax error with its line', () => {
    const { err, lines } = problems('name: x\ntimeline:\n  - at: 1s\n    args: { level: 30\n  - at: 2s\n')
    expect(err.message).toBe('bad.yaml: 1 problem')
    expect(lines[0]).toMatch(/^bad\.yaml:5:\d+: YAML syntax: /)
  })

  it('reports a wrong type with the line and the dotted path', () => {
    const { lines } = problems('name: x\nfleet:\n  groups:\n    - kind: band\n      count: many\n')
    expect(lines).toEqual(['bad.yaml:5:14: fleet.groups[0].count: must be a number, got "many"'])
  })

  it('reports an unknown key at the key, with a suggestion and the allowed keys', () => {
    const { lines } = problems('name: x\nfleet:\n  telemetryIntervl: 2s\ntimeline:\n  - at: 1s\n    expect:\n      telemetry: { minMessages: 2 }\n')
    expect(lines[0]).toBe('bad.yaml:3:3: fleet.telemetryIntervl: unknown key "telemetryIntervl" (did you mean "telemetryInterval"?); allowed here: demoHome, homes, groups, telemetryInterval, firmware, connectRate')
    expect(lines[1]).toMatch(/^bad\.yaml:7:20: timeline\[0\]\.expect\.telemetry\.minMessages: unknown key "minMessages" \(did you mean "min"\?\)/)
  })

  it('points at a misspelt step action with a suggestion', () => {
    const { lines } = problems('name: x\ntimeline:\n  - at: 1s\n    comand: mute\n    target: { device: demo-kitchen-speaker }\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^bad\.yaml:4:\d+: timeline\[0\]\.comand: unknown key "comand" \(did you mean "command"\?\)/)
  })

  it('fixes the device clock start for reproducible runs: a default instant, an ISO date-time, or now', () => {
    const base = 'name: x\ntimeline:\n  - at: 1s\n    note: hi\n'
    expect(loadScenarioText(base, 'a.yaml').startTime).toBe(Date.UTC(2026, 0, 1, 8, 0, 0))
    expect(loadScenarioText(`${base}startTime: 2026-06-12T21:00:00+02:00\n`, 'a.yaml').startTime).toBe(Date.UTC(2026, 5, 12, 19, 0, 0))
    expect(loadScenarioText(`${base}startTime: now\n`, 'a.yaml').startTime).toBe('now')
    const { lines } = problems(`${base}startTime: yesterday\n`)
    expect(lines[0]).toMatch(/^bad\.yaml:5:12: startTime: must be now or an ISO 8601 date-time/)
  })

  it('refuses a messages filter that can never match under the prefix the run watches', () => {
    const { lines } = problems('name: x\nprefix: lab/home\ntimeline:\n  - at: 1s\n    note: hi\nexpect:\n  messages: { topic: "home/+/telemetry", max: 0 }\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^bad\.yaml:7:\d+: expect\.messages\.topic: "home\/\+\/telemetry" can never match: the run watches only lab\/home\/#/)
    expect(() => loadScenarioText('name: x\nprefix: lab/home\ntimeline:\n  - at: 1s\n    note: hi\nexpect:\n  messages: { topic: "+/+/d/telemetry", max: 9 }\n', 'ok.yaml')).not.toThrow()
  })

  it('reports a bad duration', () => {
    const { lines } = problems('name: x\ntimeline:\n  - at: 5 sec\n    note: a\n  - at: 30\n    note: b\n')
    expect(lines[0]).toMatch(/^bad\.yaml:3:9: timeline\[0\]\.at: must be a duration such as 500ms, 2s/)
    expect(lines[1]).toMatch(/^bad\.yaml:5:9: timeline\[1\]\.at: needs a unit: 30s or 30ms\?/)
  })

  it('reports every problem of a file at once, in line order', () => {
    const text = [
      'nme: broken', //                                   1: unknown key, and name missing
      'seed: -3', //                                      2
      'speed: 0', //                                      3
      'broker: http://example.com', //                    4
      'fleet:', //                                        5
      '  groups:', //                                     6
      '    - { kind: robot, count: 2.5 }', //             7: two problems
      'timeline:', //                                     8
      '  - at: 1s', //                                    9
      '    command: setVolume', //                        10
      '    target: {}', //                                11
      '    expect: OUT_OF_RANGE', //                      12
      '  - at: 2s', //                                    13
      '    say: hello', //                                14
      '  - at: 3s', //                                    15
      '    expect: { state: { target: { kind: speaker } } }' // 16: reported missing
    ].join('\n')
    const { err, lines } = problems(text)
    expect(err.message).toBe(`bad.yaml: ${lines.length} problems`)
    const joined = lines.join('\n')
    expect(joined).toContain('bad.yaml:1:1: nme: unknown key "nme" (did you mean "name"?)')
    expect(joined).toContain('bad.yaml:1:1: name: is required')
    expect(joined).toContain('bad.yaml:2:7: seed: must be at least 0, got -3')
    expect(joined).toContain('bad.yaml:3:8: speed: must be at least 0.001, got 0')
    expect(joined).toMatch(/bad\.yaml:4:9: broker: must be embedded or a broker URL/)
    expect(joined).toMatch(/bad\.yaml:7:15: fleet\.groups\[0\]\.kind: must be one of speaker, band, camera, got "robot"/)
    expect(joined).toContain('bad.yaml:7:29: fleet.groups[0].count: must be a whole number, got 2.5')
    expect(joined).toMatch(/bad\.yaml:11:13: timeline\[0\]\.target: choose devices with device, name, kind/)
    expect(joined).toMatch(/bad\.yaml:12:13: timeline\[0\]\.expect: must be ok, any, or a reply error code .* \(did you mean "VALUE_OUT_OF_RANGE"\?\)/)
    expect(joined).toMatch(/bad\.yaml:14:10: timeline\[1\]\.say: say: is the speaker's text-to-speech command; .*use hear: .*use note:/)
    expect(joined).toMatch(/bad\.yaml:16:\d+: timeline\[2\]\.expect\.state\.reported: is required/)
    expect(lines.map((l) => Number(l.split(':')[1]))).toEqual([...lines.map((l) => Number(l.split(':')[1]))].sort((a, b) => a - b))
    // The whole error, as the CLI prints it.
    expect(formatError(err).split('\n')[0]).toBe(`FLEET_ERR_SCENARIO_INVALID: bad.yaml: ${lines.length} problems`)
  })

  it('checks targets and commands against the planned fleet', () => {
    const text = [
      'name: x',
      'timeline:',
      '  - at: 1s',
      '    command: setVolum',
      '    target: { name: kitchen speakr }',
      '  - at: 2s',
      '    command: setVolume',
      '    target: { home: demo }',
      '    args: { level: 3 }'
    ].join('\n')
    const { lines } = problems(text)
    expect(lines).toEqual([
      'bad.yaml:5:13: timeline[0].target: selects none of the fleet\'s 9 devices (name "kitchen speakr": did you mean "kitchen speaker"?)',
      expect.stringMatching(/^bad\.yaml:7:14: timeline\[1\]\.command: setVolume is not a camera or band command, and 5 of the 9 selected devices are cameras or bands; narrow the target with kind:/)
    ])
    // Nothing selected, so the misspelt command is not judged yet; with a good target it is.
    const { lines: again } = problems('name: x\ntimeline:\n  - at: 1s\n    command: setVolum\n    target: { device: demo-kitchen-speaker }\n')
    expect(again[0]).toMatch(/^bad\.yaml:4:14: timeline\[0\]\.command: setVolum is not a speaker command \(did you mean "setVolume"\?\)/)
    // …unless the step expects exactly that error.
    expect(() => loadScenarioText('name: x\ntimeline:\n  - at: 1s\n    command: setVolum\n    target: { device: demo-kitchen-speaker }\n    expect: UNKNOWN_COMMAND\n', 'ok.yaml')).not.toThrow()
  })

  it('checks a command\'s arguments against the command catalogue, unless the step expects that error', () => {
    const text = [
      'name: x', //                                                          1
      'timeline:', //                                                        2
      '  - { at: 1s, command: setVolume, target: { kind: speaker }, args: { levle: 30 } }', //       3
      '  - { at: 2s, command: setVolume, target: { kind: speaker }, args: { level: 150 } }', //      4
      '  - { at: 3s, command: setVolume, target: { kind: speaker }, args: { level: loud }, expect: DEVICE_OFF }', // 5
      '  - { at: 4s, command: setVolume, target: { kind: speaker }, args: { level: 150 }, expect: VALUE_OUT_OF_RANGE }', // 6: the point
      '  - { at: 5s, command: setVolume, target: { kind: speaker }, args: { lvl: 1 }, expect: any }', //  7: anything goes
      '  - { at: 6s, command: setVolume, target: { kind: speaker }, payload: "{\\"level\\": 150}" }' //   8: raw, sent as is
    ].join('\n')
    const { lines } = problems(text)
    expect(lines).toEqual([
      'bad.yaml:3:68: timeline[0].args: argument "level" is required (a whole number from 0 to 100): a speaker would answer INVALID_VALUE (to test that error reply, add expect: INVALID_VALUE)',
      'bad.yaml:3:77: timeline[0].args.levle: unknown argument "levle" of setVolume (did you mean "level"?); setVolume takes level',
      'bad.yaml:4:77: timeline[1].args.level: argument "level" must be from 0 to 100, got 150: a speaker would answer VALUE_OUT_OF_RANGE (to test that error reply, add expect: VALUE_OUT_OF_RANGE)',
      'bad.yaml:5:77: timeline[2].args.level: argument "level" must be a number, got "loud": a speaker would answer INVALID_VALUE, not DEVICE_OFF'
    ])
  })

  it('reports whole-file problems together with schema problems, in one pass', () => {
    const text = [
      'name: x', //                                         1
      'timeline:', //                                       2
      '  - at: 1s', //                                      3
      '    command: setVolume', //                          4
      '    target: { name: kitchen speakr }', //            5: selects nothing (a whole-file check)
      '    args: { level: 3 }', //                          6
      '  - at: soon', //                                    7: a schema problem
      '    note: later'
    ].join('\n')
    const { err, lines } = problems(text)
    expect(lines).toEqual([
      expect.stringMatching(/^bad\.yaml:5:13: timeline\[0\]\.target: selects none of the fleet's 9 devices \(name "kitchen speakr": did you mean "kitchen speaker"\?\)/),
      expect.stringMatching(/^bad\.yaml:7:9: timeline\[1\]\.at: /)
    ])
    expect(err.message).toBe('bad.yaml: 2 problems')
  })

  it('lists the first 50 problems of a junk file and counts the rest', () => {
    const junk = Array.from({ length: 3000 }, (_, i) => `key${i}: [unclosed, {`).join('\n')
    const { err, lines } = problems(junk)
    expect(lines).toHaveLength(51)
    expect(lines[50]).toMatch(/^bad\.yaml: …and \d+ more problems \(the first 50 are listed\)$/)
    const total = Number(/^bad\.yaml: (\d+) problems$/.exec(err.message)?.[1])
    expect(total).toBeGreaterThan(50)
    expect(lines[50]).toContain(`and ${total - 50} more`)
    const schema = Array.from({ length: 200 }, (_, i) => `bad${i}: 1`).join('\n')
    expect(problems(`name: x\n${schema}`).lines).toHaveLength(51)
  })

  it('accepts a room by any of its English or French names', () => {
    const s = loadScenarioText('name: x\ntimeline:\n  - { at: 1s, command: setVolume, target: { room: cuisine, kind: speaker }, args: { level: 3 } }\n', 'rooms.yaml')
    const step = s.timeline[0] as { target: { room?: string } }
    expect(step.target.room).toBe('cuisine')
    const specs = planFleet({})
    expect(specs.filter(targetMatcher(step.target)).map((d) => d.id)).toEqual(['demo-kitchen-speaker'])
    expect(specs.filter(targetMatcher({ room: "l'entrée" })).map((d) => d.id)).toEqual(specs.filter((d) => d.room === 'front door').map((d) => d.id))
  })

  it('refuses a duration that ends before the timeline, duplicate ids and an empty file', () => {
    expect(problems('name: x\nduration: 2s\ntimeline:\n  - { at: 5s, note: late }\n').lines[0]).toMatch(/^bad\.yaml:2:11: duration: the run ends at 2s, before timeline\[0\] at 5s \(line 4\)/)
    expect(problems('name: x\nfleet:\n  groups:\n    - { kind: band, count: 2 }\n    - { kind: band, count: 2 }\n').lines[0]).toMatch(/^bad\.yaml:3:3: fleet: device id band-0001 appears twice/)
    expect(problems('').lines).toEqual([expect.stringMatching(/^bad\.yaml:1:1: the file is empty/)])
    expect(problems('- just\n- a list\n').lines).toEqual(['bad.yaml:1:1: must be a map (key: value), got a list'])
  })
})

describe('loadScenarioFile', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'homefleet-scenarios-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('names the path of a missing file', async () => {
    const missing = join(dir, 'nope.yaml')
    const err = await loadScenarioFile(missing).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_SCENARIO_NOT_FOUND')
    expect((err as FleetError).exitCode).toBe(2)
    expect((err as FleetError).message).toContain(missing)
  })

  it('names the file in every issue', async () => {
    const file = join(dir, 'broken.yaml')
    await writeFile(file, 'name: x\nfleet:\n  homes: lots\n')
    const err = await loadScenarioFile(file).catch((e: unknown) => e) as FleetError
    expect(err.code).toBe('FLEET_ERR_SCENARIO_INVALID')
    expect(err.issues).toEqual([{ file, line: 3, column: 10, path: 'fleet.homes', message: 'must be a number, got "lots"' }])
  })
})
