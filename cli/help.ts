/**
 * Help text, generated from the command tables (commands.ts): every flag, its default, its choices, examples and
 * exit codes. Fixed width (not the terminal's) so the text is the same everywhere, in tests and in docs/cli.md.
 */
import { readFileSync } from 'node:fs'
import { COMMANDS, EXIT_CODES, findCommand, GLOBAL_OPTIONS, type Command } from './commands.ts'
import type { CliIo } from './io.ts'
import { suggest } from '../core/suggest.ts'
import { flagName, UsageError, type OptionSpec, type OptionTable } from './options.ts'

const WIDTH = 100

let cachedVersion: string | undefined
/** package.json's version. */
export function version (): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  return cachedVersion
}

/** Wrap `text` to lines of at most `width` characters (a longer word stays whole), continuation lines indented by `indent` spaces. */
export function wrap (text: string, width: number, indent: number): string {
  const words = text.split(/\s+/).filter((w) => w !== '')
  const lines: string[] = []
  let line = ''
  for (const w of words) {
    if (line !== '' && line.length + 1 + w.length > width) { lines.push(line); line = w } else line = line === '' ? w : `${line} ${w}`
  }
  if (line !== '') lines.push(line)
  return lines.join(`\n${' '.repeat(indent)}`)
}

/** `-p, --port <N>` or `    --json`. */
export function optionSignature (key: string, spec: OptionSpec<unknown>): string {
  const short = spec.short === undefined ? '    ' : `-${spec.short}, `
  const value = spec.valueName === undefined ? '' : ` <${spec.valueName}>`
  return `${short}--${flagName(key)}${value}`
}

/** The description with its notes: choices, default, repeatable, required companions. */
export function optionDescription (spec: OptionSpec<unknown>): string {
  const notes: string[] = []
  if (spec.choices !== undefined) notes.push(`one of: ${spec.choices.join(', ')}`)
  if (spec.defaultText !== undefined) notes.push(`default: ${spec.defaultText}`)
  else if (spec.default !== undefined) notes.push(`default: ${spec.default}`)
  if (spec.multiple) notes.push('repeatable')
  for (const c of spec.requires) notes.push(`needs --${flagName(c)}`)
  return notes.length === 0 ? spec.description : `${spec.description} (${notes.join('; ')})`
}

function optionLines (table: OptionTable, indent = 2): string[] {
  const entries = Object.entries(table) as [string, OptionSpec<unknown>][]
  const sigs = entries.map(([k, s]) => optionSignature(k, s))
  const col = Math.min(32, Math.max(...sigs.map((s) => s.length)) + 2)
  return entries.map(([, s], i) => {
    const sig = sigs[i] as string
    const pad = indent + col
    const head = `${' '.repeat(indent)}${sig.padEnd(col)}`
    if (sig.length > col - 2) return `${' '.repeat(indent)}${sig}\n${' '.repeat(pad)}${wrap(optionDescription(s), WIDTH - pad, pad)}`
    return head + wrap(optionDescription(s), WIDTH - pad, pad)
  })
}

export function usageLine (command: Command): string {
  const args = command.positionals.map((p) => `${p.required ? `<${p.name}>` : `[${p.name}]`}${p.variadic === true ? '...' : ''}`).join(' ')
  const opts = Object.keys(command.options).length > 0 ? ' [options]' : ''
  return `fleet ${command.name}${args === '' ? '' : ` ${args}`}${opts}`
}

function exitCodeLines (codes: readonly { code: number; meaning: string }[]): string[] {
  return codes.map((c) => `  ${String(c.code).padEnd(3)}${wrap(c.meaning, WIDTH - 5, 5)}`)
}

/** `fleet help <command>` / `fleet <command> --help`. */
export function formatCommandHelp (command: Command): string {
  const out: string[] = [wrap(`fleet ${command.name}: ${command.summary}`, WIDTH, 2), '', `Usage: ${usageLine(command)}`, '']
  for (const p of command.description) out.push(wrap(p, WIDTH, 0), '')
  if (command.positionals.length > 0) {
    out.push('Arguments:')
    const col = Math.max(...command.positionals.map((p) => p.name.length + 2)) + 2
    for (const p of command.positionals) out.push(`  ${`<${p.name}>`.padEnd(col)}${p.description}${p.required ? '' : ' (optional)'}`)
    out.push('')
  }
  if (Object.keys(command.options).length > 0) out.push('Options:', ...optionLines(command.options), '')
  out.push('Global options:', ...optionLines(GLOBAL_OPTIONS), '')
  if (command.examples.length > 0) {
    out.push('Examples:')
    for (const e of command.examples) out.push(`  ${e.command}`, `      ${wrap(e.description, WIDTH - 6, 6)}`)
    out.push('')
  }
  out.push('Exit codes:', ...exitCodeLines(command.exitCodes))
  return out.join('\n') + '\n'
}

/**
 * `fleet --help`: the commands, then every command's usage and options, exit codes and examples. `brief` stops
 * after the command list (what a bare `fleet` prints).
 */
export function formatMainHelp (brief = false): string {
  const out: string[] = [
    `fleet ${version()}: HomeFleet, simulated smart-home device fleets (speakers, bands, cameras) over MQTT`,
    '',
    'Usage: fleet <command> [arguments] [options]',
    '       fleet help <command>',
    '',
    'Commands:'
  ]
  const heads = COMMANDS.map((c) => usageLine(c).replace(/^fleet /, '').replace(/ \[options\]$/, ''))
  const col = Math.max(...heads.map((h) => h.length)) + 3
  COMMANDS.forEach((c, i) => { out.push(`  ${(heads[i] as string).padEnd(col)}${wrap(c.summary, WIDTH - col - 2, col + 2)}`) })
  if (brief) return out.join('\n') + '\n\n'
  out.push('', 'Global options (before or after the command):', ...optionLines(GLOBAL_OPTIONS), '')
  for (const c of COMMANDS) {
    if (Object.keys(c.options).length === 0) continue
    out.push(`${usageLine(c)}`, ...optionLines(c.options), '')
  }
  out.push('Examples:')
  for (const c of COMMANDS) {
    const e = c.examples[0]
    if (e !== undefined && c.name !== 'help') out.push(`  ${e.command}`, `      ${wrap(e.description, WIDTH - 6, 6)}`)
  }
  out.push('', 'Exit codes:', ...exitCodeLines(EXIT_CODES), '')
  out.push("Run 'fleet help <command>' for a command's full description, examples and exit codes.")
  out.push('Environment: NO_COLOR disables colours; FLEET_DEBUG=1 is --debug.')
  return out.join('\n') + '\n'
}

/** The help command: main help, or one command's. */
export function printHelp (name: string | undefined, io: CliIo): Promise<number> {
  if (name === undefined) {
    io.stdout.write(formatMainHelp())
    return Promise.resolve(0)
  }
  const command = findCommand(name)
  if (command === undefined) return Promise.reject(unknownCommand(name))
  io.stdout.write(formatCommandHelp(command))
  return Promise.resolve(0)
}

export function unknownCommand (name: string): UsageError {
  const hint = suggest(name, COMMANDS.map((c) => c.name))
  return new UsageError('', `unknown command ${JSON.stringify(name)}${hint === undefined ? '' : ` (did you mean ${JSON.stringify(hint)}?)`}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`)
}

// ---- docs/cli.md ------------------------------------------------------------------------------------------------
// The doc's tables are generated from the same data as the help: test/cli/options.test.ts checks that docs/cli.md
// holds every one of them exactly, so the doc cannot drift from the command tables. Regenerate them all with
// `node --import tsx -e "import('./cli/help.ts').then((m) => console.log(m.formatDocTables()))"`.

/** `--flag` as code, the way the doc writes flags. */
function codeFlags (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/(^|[\s(])(--[a-z][a-z-]*)/g, '$1`$2`')
}

/** The command list, for docs/cli.md: each command's usage (linked to its section) and summary. */
export function formatCommandsMarkdown (): string {
  const rows = ['| command | job |', '| --- | --- |']
  for (const c of COMMANDS) {
    const usage = `\`${usageLine(c).replace(/ \[options\]$/, '')}\``
    // Commands with options have a section of their own in the doc; `fleet help` does not.
    const cell = Object.keys(c.options).length > 0 ? `[${usage}](#fleet-${c.name})` : usage
    rows.push(`| ${cell} | ${codeFlags(c.summary)} |`)
  }
  return rows.join('\n')
}

/** A command's exit codes (or, for `global`, the ones every command shares) as a Markdown table. */
export function formatExitCodesMarkdown (name: string): string {
  const codes = name === 'global' ? EXIT_CODES : (findCommand(name)?.exitCodes ?? [])
  const rows = name === 'global' ? ['| code | meaning |', '| --- | --- |'] : ['| exit | when |', '| --- | --- |']
  for (const c of codes) rows.push(`| ${c.code} | ${codeFlags(c.meaning)} |`)
  return rows.join('\n')
}

/** Every generated table of docs/cli.md, each under the comment that says where it goes. */
export function formatDocTables (): string {
  const documented = COMMANDS.filter((c) => Object.keys(c.options).length > 0).map((c) => c.name)
  return [
    '<!-- commands -->', formatCommandsMarkdown(),
    '<!-- exit codes -->', formatExitCodesMarkdown('global'),
    '<!-- options: global -->', formatOptionsMarkdown('global'),
    ...documented.flatMap((n) => [`<!-- options: ${n} -->`, formatOptionsMarkdown(n), `<!-- exit codes: ${n} -->`, formatExitCodesMarkdown(n)])
  ].join('\n\n')
}

/** A command's options (or, for `global`, the global options) as a Markdown table, for docs/cli.md. */
export function formatOptionsMarkdown (name: string): string {
  const table: OptionTable = name === 'global' ? GLOBAL_OPTIONS : (findCommand(name)?.options ?? {})
  const rows = ['| flag | value | default | meaning |', '| --- | --- | --- | --- |']
  for (const [key, spec] of Object.entries(table) as [string, OptionSpec<unknown>][]) {
    const flag = `${spec.short === undefined ? '' : `\`-${spec.short}\`, `}\`--${flagName(key)}\``
    const value = spec.choices !== undefined ? spec.choices.map((c) => `\`${c}\``).join(' ') : spec.valueName === undefined ? '' : spec.valueName
    const def = spec.defaultText ?? (spec.default === undefined ? '' : `\`${spec.default}\``)
    const notes = [
      ...(spec.multiple ? ['repeatable'] : []),
      ...spec.requires.map((c) => `needs \`--${flagName(c)}\``)
    ]
    const text = [codeFlags(spec.description), ...notes].join('; ')
    rows.push(`| ${flag} | ${value} | ${def} | ${text} |`)
  }
  return rows.join('\n')
}
