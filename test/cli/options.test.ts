import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { COMMANDS, GLOBAL_OPTIONS, LOGS_OPTIONS, RUN_OPTIONS, BROKER_OPTIONS } from '../../cli/commands.ts'
import { formatCommandHelp, formatDocTables, formatExitCodesMarkdown, formatMainHelp, formatOptionsMarkdown, optionSignature } from '../../cli/help.ts'
import {
  durationOption, flag, flagName, integerOption, listOption, numberOption, parseCommandLine,
  stringOption, UsageError, urlOption, enumOption, type OptionSpec, type OptionTable
} from '../../cli/options.ts'

function usage (fn: () => unknown): UsageError {
  try { fn() } catch (err) {
    expect(err).toBeInstanceOf(UsageError)
    const e = err as UsageError
    expect(e.code).toBe('FLEET_ERR_USAGE')
    expect(e.exitCode).toBe(2)
    expect(e.message).not.toContain('\n')
    return e
  }
  throw new Error('expected a UsageError')
}

const table = {
  port: integerOption({ short: 'p', min: 0, max: 65535, default: 1883, description: 'port' }),
  seed: integerOption({ min: 0, max: 10, description: 'seed' }),
  speed: numberOption({ min: 0.001, max: 100, description: 'speed' }),
  ratio: numberOption({ min: 0, max: 1, default: 0.5, description: 'ratio' }),
  level: enumOption({ choices: ['info', 'warn'], default: 'info', description: 'level' }),
  wait: durationOption({ minMs: 1, maxMs: 60_000, default: '5s', description: 'wait' }),
  idle: durationOption({ minMs: 0, maxMs: 60_000, description: 'idle' }),
  broker: urlOption({ description: 'broker' }),
  name: stringOption({ description: 'name', check: (v) => v.includes(' ') ? 'a name without spaces' : undefined }),
  device: listOption({ short: 'd', description: 'device' }),
  kind: listOption({ choices: ['a', 'b'], description: 'kind' }),
  json: flag({ description: 'json' }),
  needy: flag({ description: 'needs', requires: ['name'] })
} satisfies OptionTable

describe('parseCommandLine', () => {
  it('applies defaults when flags are absent', () => {
    const { values, positionals } = parseCommandLine('t', table, [])
    expect(values).toEqual({ port: 1883, seed: undefined, speed: undefined, ratio: 0.5, level: 'info', wait: 5000, idle: undefined, broker: undefined, name: undefined, device: [], kind: [], json: false, needy: false })
    expect(positionals).toEqual([])
  })

  it('converts good values, long, short and = forms', () => {
    const { values } = parseCommandLine('t', table, [
      '-p', '0', '--seed=7', '--speed', '2.5', '--ratio', '1', '--level', 'warn', '--wait', '0.5m', '--idle', '0',
      '--broker', 'mqtt://127.0.0.1:1883', '--name', 'x', '-d', 'a*', '--device', 'b', '--kind', 'b', '--json'
    ])
    expect(values).toMatchObject({ port: 0, seed: 7, speed: 2.5, ratio: 1, level: 'warn', wait: 30_000, idle: 0, broker: 'mqtt://127.0.0.1:1883', name: 'x', device: ['a*', 'b'], kind: ['b'], json: true })
  })

  it.each([
    [['--port', 'abc'], /--port expects an integer from 0 to 65535, got "abc"/],
    [['--port', '70000'], /--port expects an integer from 0 to 65535, got "70000"/],
    [['--port', '1.5'], /--port expects an integer/],
    [['--port', ''], /--port expects an integer/],
    [['--port=-1'], /--port expects an integer from 0 to 65535, got "-1"/],
    [['--seed', '1e1'], /--seed expects an integer/],
    [['--speed', '0'], /--speed expects a number from 0.001 to 100, got "0"/],
    [['--speed', 'fast'], /--speed expects a number/],
    [['--speed', 'Infinity'], /--speed expects a number/],
    [['--ratio', '2'], /--ratio expects a number from 0 to 1, got "2"/],
    [['--level', 'loud'], /--level expects one of info, warn, got "loud"/],
    [['--wait', '5'], /--wait expects a duration .*got "5"/],
    [['--wait', '0'], /--wait expects a duration from 1ms to 1m/],
    [['--wait', '2m'], /--wait expects a duration from 1ms to 1m/],
    [['--idle', 'soon'], /--idle expects a duration up to 1m00s .* or 0, got "soon"/],
    [['--broker', 'localhost'], /--broker expects a broker URL such as mqtt:\/\/127\.0\.0\.1:1883, got "localhost"/],
    [['--broker', 'http://x'], /--broker expects a broker URL with one of the schemes/],
    [['--name', 'a b'], /--name expects a name without spaces, got "a b"/],
    [['--name', ''], /--name expects/],
    [['--kind', 'c'], /--kind expects one of a, b, got "c"/],
    [['--device', ''], /--device expects a non-empty value/]
  ])('refuses bad value %j naming the flag and the value', (args, message) => {
    expect(usage(() => parseCommandLine('t', table, args)).message).toMatch(message)
  })

  it.each([
    [['--bogus'], /^unknown option --bogus$/],
    [['--prot', '1'], /^unknown option --prot \(did you mean --port\?\)$/],
    [['-x'], /^unknown option -x$/],
    [['--port'], /^--port needs a value$/],
    [['-p'], /^--port needs a value$/],
    [['--port', '--json'], /^--port needs a value \(for a value starting with "-", write --port=-…\)$/],
    [['-p', '-1'], /^--port needs a value/],
    [['--json=yes'], /^--json is a switch and takes no value$/],
    [['--port', '1', '--port', '2'], /^--port was given more than once$/],
    [['--needy'], /^--needy needs --name$/]
  ])('refuses command line %j with a one-line message', (args, message) => {
    expect(usage(() => parseCommandLine('t', table, args)).message).toMatch(message)
  })

  it('checks positionals: missing, extra, and after --', () => {
    const pos = [{ name: 'scenario', required: true, description: 's' }]
    expect(usage(() => parseCommandLine('run', table, [], pos)).message).toBe('missing <scenario>')
    expect(usage(() => parseCommandLine('run', table, ['a', 'b'], pos)).message).toBe('unexpected argument "b"')
    expect(usage(() => parseCommandLine('logs', table, ['a'])).message).toBe('unexpected argument "a" (fleet logs takes no arguments)')
    expect(parseCommandLine('run', table, ['--', '--json'], pos).positionals).toEqual(['--json'])
    expect(usage(() => parseCommandLine('run', table, [], pos)).command).toBe('run')
  })
})

/** Every table of every command, with the global options, as the parser sees it. */
const tables: [string, OptionTable][] = COMMANDS.map((c) => [c.name, { ...GLOBAL_OPTIONS, ...c.options }])

describe('the command tables', () => {
  it.each(tables)('%s: no flag or short alias is used twice, and globals are not shadowed', (name) => {
    const command = COMMANDS.find((c) => c.name === name)!
    const keys = [...Object.keys(GLOBAL_OPTIONS), ...Object.keys(command.options)]
    expect(new Set(keys).size).toBe(keys.length)
    const shorts = [...Object.values(GLOBAL_OPTIONS), ...Object.values(command.options)].map((s) => s.short).filter((s) => s !== undefined)
    expect(new Set(shorts).size).toBe(shorts.length)
  })

  it.each(tables)('%s: every default is a value its own flag accepts, and requires names real options', (_name, t) => {
    for (const [key, spec] of Object.entries(t) as [string, OptionSpec<unknown>][]) {
      if (spec.default !== undefined) expect(spec.convert(spec.default), `--${flagName(key)} default`).toMatchObject({ ok: true })
      for (const other of spec.requires) expect(Object.keys(t), `--${flagName(key)}`).toContain(other)
    }
    // Parsing an empty command line applies every default without throwing.
    expect(() => parseCommandLine('x', t, [], [{ name: 'x', required: false, description: '' }])).not.toThrow()
  })

  it('the defaults that matter to users', () => {
    expect(parseCommandLine('broker', BROKER_OPTIONS, []).values).toEqual({ port: 1883, host: '127.0.0.1', logLevel: 'info', jsonLogs: false, statsInterval: 60_000 })
    expect(parseCommandLine('logs', LOGS_OPTIONS, []).values).toMatchObject({ broker: 'mqtt://127.0.0.1:1883', prefix: 'home', level: 'trace', connectTimeout: 5000, count: undefined, timeout: undefined })
    expect(parseCommandLine('run', RUN_OPTIONS, ['demo'], [{ name: 'scenario', required: true, description: '' }]).values).toMatchObject({ broker: undefined, port: undefined, seed: undefined, speed: undefined, logLevel: 'info', json: false, quiet: false })
  })

  it('--prefix is checked with the topic contract', () => {
    expect(usage(() => parseCommandLine('logs', LOGS_OPTIONS, ['--prefix', 'home/+'])).message).toMatch(/--prefix expects a topic prefix/)
    expect(parseCommandLine('logs', LOGS_OPTIONS, ['--prefix', 'lab/home']).values.prefix).toBe('lab/home')
  })

  it('--device is checked as a topic level, and globs stay allowed', () => {
    expect(parseCommandLine('logs', LOGS_OPTIONS, ['-d', 'demo-*', '-d', 'band-00?1', '-d', 'a$b']).values.device).toEqual(['demo-*', 'band-00?1', 'a$b'])
    for (const bad of ['$SYS', 'a/b', 'a+', '#']) expect(usage(() => parseCommandLine('logs', LOGS_OPTIONS, ['--device', bad])).message).toMatch(/^--device expects a device id or glob/)
  })
})

describe('help text', () => {
  const main = formatMainHelp()

  it.each(COMMANDS.map((c) => [c.name, c] as const))('fleet help %s lists every flag with its default, choices, an example and the exit codes', (_name, command) => {
    const help = formatCommandHelp(command)
    for (const [key, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...command.options }) as [string, OptionSpec<unknown>][]) {
      expect(help).toContain(optionSignature(key, spec))
      if (spec.default !== undefined && spec.defaultText === undefined) expect(help).toContain(`default: ${spec.default}`)
      if (spec.defaultText !== undefined) expect(help.replace(/\s+/g, ' ')).toContain(`default: ${spec.defaultText}`)
      for (const choice of spec.choices ?? []) expect(help).toContain(choice)
    }
    for (const p of command.positionals) expect(help).toContain(`<${p.name}>`)
    for (const e of command.examples) expect(help).toContain(e.command)
    for (const x of command.exitCodes) expect(help).toMatch(new RegExp(`^  ${x.code} `, 'm'))
  })

  it('fleet --help lists every command and every flag of every command', () => {
    for (const command of COMMANDS) {
      expect(main).toContain(`  ${command.name}`)
      for (const [key, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...command.options }) as [string, OptionSpec<unknown>][]) {
        expect(main).toContain(optionSignature(key, spec))
      }
    }
    for (const code of [0, 1, 2, 3]) expect(main).toMatch(new RegExp(`^  ${code} `, 'm'))
  })

  it('stays within 100 columns', () => {
    for (const text of [main, ...COMMANDS.map(formatCommandHelp)]) {
      for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100)
    }
  })
})

describe('docs/cli.md', () => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8')
  // On failure, regenerate: node --import tsx -e "import('./cli/help.ts').then((m) => console.log(m.formatDocTables()))"
  const generated = formatDocTables().split(/^<!-- (.+?) -->$/m).slice(1)
    .flatMap((part, i, parts) => i % 2 === 0 ? [[part, parts[i + 1]!.trim()] as const] : [])
  const documented = COMMANDS.filter((c) => Object.keys(c.options).length > 0).map((c) => c.name)

  it('generates every table: the command list, the exit codes, and each documented command\'s options and exit codes', () => {
    expect(generated.map(([what]) => what)).toEqual([
      'commands', 'exit codes', 'options: global', ...documented.flatMap((n) => [`options: ${n}`, `exit codes: ${n}`])
    ])
    expect(Object.fromEntries(generated)).toMatchObject({ 'options: logs': formatOptionsMarkdown('logs'), 'exit codes: logs': formatExitCodesMarkdown('logs') })
  })

  it.each(generated)('holds the generated table %s exactly', (_what, table) => {
    expect(doc).toContain(table)
  })

  it('puts each command\'s tables in its own section', () => {
    for (const name of documented) {
      const section = doc.split(/^## /m).find((s) => s.startsWith(`fleet ${name}\n`))
      expect(section, `## fleet ${name}`).toBeDefined()
      expect(section).toContain(formatOptionsMarkdown(name))
      expect(section).toContain(formatExitCodesMarkdown(name))
    }
  })

  it('the exit-code tables agree with the help text', () => {
    for (const c of COMMANDS) {
      const help = formatCommandHelp(c).replace(/\s+/g, ' ')
      for (const x of c.exitCodes) expect(help).toContain(`${x.code} ${x.meaning}`)
    }
  })
})
