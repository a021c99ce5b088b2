/**
 * Every `fleet` command as data: its option table, arguments, description, examples and exit codes. The parser
 * (options.ts), the help (help.ts) and docs/cli.md's tables all come from here. Each command's implementation is
 * imported only when it runs, so `fleet --help` loads neither the broker, the device runtime, the scenario runner,
 * MQTT.js nor pino: this file needs only dependency-free lists (core/log-levels.ts, devices/kind-names.ts).
 */
import { LOG_LEVELS } from '../core/log-levels.ts'
import { checkPrefix, DEFAULT_PREFIX, isValidLevel } from '../core/topics.ts'
import { DEVICE_KINDS } from '../devices/kind-names.ts'
import type { CliIo } from './io.ts'
import {
  durationOption, enumOption, flag, integerOption, listOption, numberOption, stringOption, urlOption,
  type OptionTable, type OptionValues, type PositionalSpec
} from './options.ts'

export interface CommandContext<V> {
  readonly options: V
  readonly positionals: readonly string[]
  readonly io: CliIo
  /** Aborted on SIGINT/SIGTERM (or by the test that called `main`). */
  readonly signal: AbortSignal
  readonly debug: boolean
}

export interface Example { readonly command: string; readonly description: string }
export interface ExitCodeDoc { readonly code: number; readonly meaning: string }

export interface Command<O extends OptionTable = OptionTable> {
  readonly name: string
  /** One line, for the command list. */
  readonly summary: string
  /** Paragraphs for `fleet help <command>`. */
  readonly description: readonly string[]
  readonly positionals: readonly PositionalSpec[]
  readonly options: O
  readonly examples: readonly Example[]
  readonly exitCodes: readonly ExitCodeDoc[]
  /** Returns the exit code. Method syntax on purpose: commands with different tables share one list. */
  run (ctx: CommandContext<OptionValues<O>>): Promise<number>
}

function defineCommand<O extends OptionTable> (command: Command<O>): Command<O> {
  return Object.freeze(command)
}

/** Accepted by every command, and by `fleet` itself before the command name. */
export const GLOBAL_OPTIONS = {
  help: flag({ short: 'h', description: 'Show help (for fleet, or for the command it follows) and exit' }),
  version: flag({ short: 'v', description: 'Print the HomeFleet version and exit' }),
  debug: flag({ description: 'On an unexpected error, print the stack trace and causes (also FLEET_DEBUG=1)' })
} as const satisfies OptionTable

const prefixCheck = (v: string): string | undefined => {
  try { checkPrefix(v); return undefined } catch { return 'a topic prefix of one or more levels without + # $ or empty levels, such as home or lab/home' }
}
// A device id is one topic level (core/topics.ts); the glob characters * and ? are valid in a level, so a glob is too.
const deviceCheck = (v: string): string | undefined => isValidLevel(v) ? undefined : 'a device id or glob (with * and ?) that is one topic level: not starting with $, without / + # or NUL'
const notEmpty = (v: string): string | undefined => v.trim() === '' ? 'a non-empty value' : undefined

// ---- fleet broker ------------------------------------------------------------------------------------------------

export const BROKER_OPTIONS = {
  port: integerOption({ short: 'p', min: 0, max: 65535, default: 1883, description: 'TCP port to listen on; 0 picks a free port (the URL printed at start says which)' }),
  host: stringOption({ valueName: 'HOST', default: '127.0.0.1', check: notEmpty, description: 'Interface to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface' }),
  logLevel: enumOption({ short: 'l', valueName: 'LEVEL', choices: [...LOG_LEVELS, 'silent'], default: 'info', description: 'Lowest level of broker log lines to print' }),
  jsonLogs: flag({ description: 'Print logs as pino JSON lines instead of pretty text' }),
  statsInterval: durationOption({ minMs: 0, maxMs: 86_400_000, default: '60s', description: 'How often to log a one-line summary (clients, connections, publishes, client errors): at info level when something changed since the last one, at debug level otherwise; 0 turns it off' })
} as const satisfies OptionTable
export type BrokerValues = OptionValues<typeof BROKER_OPTIONS>

const brokerCommand = defineCommand({
  name: 'broker',
  summary: 'Run the embedded MQTT broker (aedes, MQTT 3.1.1) on its own until Ctrl-C',
  description: [
    'Starts the embedded broker with a TCP listener, prints the URL it listens on and logs to stdout: pretty text by default, pino JSON lines with --json-logs. Devices, `fleet logs` and any MQTT client (mosquitto_sub, MQTT Explorer) can connect to it.',
    'SIGINT (Ctrl-C) or SIGTERM closes every connection and the listener, then exits 0. A second Ctrl-C while closing ends the process at once.'
  ],
  positionals: [],
  options: BROKER_OPTIONS,
  examples: [
    { command: 'fleet broker', description: 'Listen on mqtt://127.0.0.1:1883.' },
    { command: 'fleet broker --port 0 --json-logs', description: 'Listen on any free port, logging JSON lines (the first says which URL).' },
    { command: 'fleet broker --host 0.0.0.0 --log-level debug --stats-interval 10s', description: 'Listen on every interface, with a stats line every 10 s.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'stopped by SIGINT or SIGTERM' },
    { code: 2, meaning: 'bad usage (unknown flag, bad value)' },
    { code: 3, meaning: 'cannot listen: the port is in use (FLEET_ERR_PORT_IN_USE, naming host and port) or the address is not available (FLEET_ERR_LISTEN)' }
  ],
  async run (ctx) {
    const { runBrokerCommand } = await import('./broker.ts')
    return runBrokerCommand(ctx)
  }
})

// ---- fleet run ---------------------------------------------------------------------------------------------------

export const RUN_OPTIONS = {
  broker: urlOption({ short: 'b', keywords: ['embedded'], defaultText: "the scenario's broker, else embedded", description: 'The broker to run the fleet on: a URL, or embedded for the embedded broker' }),
  port: integerOption({ short: 'p', min: 0, max: 65535, defaultText: '0, any free port', description: "TCP port of the embedded broker's listener, so other tools (fleet logs, mosquitto_sub) can watch the run; only with the embedded broker" }),
  host: stringOption({ valueName: 'HOST', check: notEmpty, defaultText: '127.0.0.1', description: "Interface of the embedded broker's listener; only with the embedded broker" }),
  brokerThread: enumOption({ valueName: 'WHEN', choices: ['auto', 'on', 'off'], default: 'auto', description: 'Run the embedded broker in a thread of its own, so the broker and the devices use two cores: auto for fleets of 2,000 devices or more on a machine with two cores or more, on, or off; only with the embedded broker' }),
  seed: integerOption({ short: 's', min: 0, max: 4_294_967_295, defaultText: "the scenario's seed", description: 'Random seed: the same scenario and seed give the same device behaviour' }),
  speed: numberOption({ min: 0.001, max: 100, defaultText: "the scenario's speed, else 1", description: 'Device time scale: 10 makes device clocks (telemetry, timers) run ten times as fast' }),
  prefix: stringOption({ valueName: 'PREFIX', check: prefixCheck, defaultText: "the scenario's prefix, else home", description: 'Topic prefix of the fleet: runs with different prefixes share a broker without meeting' }),
  connectTimeout: durationOption({ minMs: 1, maxMs: 600_000, default: '10s', description: 'Give up (exit 3) when the broker has not accepted a connection (runner, observer, each device) within this time' }),
  brokerGrace: durationOption({ minMs: 0, maxMs: 3_600_000, default: '10s', description: 'When the broker goes away mid-run, reconnect with backoff for this long, then end the run (exit 3)' }),
  clearRetained: enumOption({ valueName: 'WHEN', choices: ['before', 'after', 'both'], description: "On an external broker, delete retained messages under the prefix: before the run (left by earlier runs), after it (this run's), or both" }),
  report: stringOption({ valueName: 'FILE', description: 'Also write the report as JSON to FILE (directories are created); also written when the run cannot start (bad scenario file, broker unreachable)' }),
  logFile: stringOption({ valueName: 'FILE', defaultText: 'no logs', description: 'Write structured pino logs (broker, devices, runner) as JSON lines to FILE; the terminal keeps progress and the report' }),
  logLevel: enumOption({ short: 'l', valueName: 'LEVEL', choices: LOG_LEVELS, default: 'info', requires: ['logFile'], description: 'Lowest level written to --log-file' }),
  json: flag({ description: 'Print the report as JSON on stdout instead of text' }),
  quiet: flag({ short: 'q', description: 'No live progress on stderr; errors and the report are still printed' }),
  dataDir: stringOption({ valueName: 'DIR', check: notEmpty, defaultText: 'no rollouts; a temporary directory for a scenario with rollout steps', description: 'Run the rollout service with its state in DIR and give every device the update agent, so fleet rollout can deploy to this run and the state outlives it (docs/rollouts.md); a scenario with rollout steps runs the service without it' })
} as const satisfies OptionTable
export type RunValues = OptionValues<typeof RUN_OPTIONS>

/**
 * The built-in scenarios, for `fleet run --help` (kept here, not read from scenarios/, so that help loads nothing
 * heavy; a test checks it against scenarios/builtin/).
 */
export const BUILTIN_SCENARIO_SUMMARIES: Readonly<Record<string, string>> = Object.freeze({
  demo: 'the demo home and 320 background devices, about 23 s; what npm start runs',
  'voice-evening': 'an evening at the demo home, by voice, in English and French',
  'rollout-staged': 'firmware to the kitchen speakers in three waves, paused and resumed',
  'rollout-canary': 'a canary rollout that halts on its error threshold and rolls back',
  'rollout-restart': 'a rollout across restarts of the rollout service, each speaker offered the update once',
  'rollout-bricked': 'a bricked camera caught by the in-progress timeout: TimedOut'
})

const runCommand = defineCommand({
  name: 'run',
  summary: 'Run a scenario (a file, or a built-in name such as demo) and report; exit 1 when a step or an expectation fails',
  description: [
    '<scenario> is a path to a scenario file; when no such file exists it names a built-in scenario (`fleet run demo`). The fleet runs on the embedded broker unless --broker names another.',
    'Live progress goes to stderr: on a terminal one updating status line (elapsed/duration, devices online, messages) plus a line per step and expectation as it happens; otherwise plain lines, one per event, without carriage returns. The report goes to stdout: text, or JSON with --json.',
    'SIGINT (Ctrl-C) or SIGTERM aborts the run: devices and broker are closed, the report (result "aborted") is printed and written, and the exit code is 1, as for any run that did not pass. A second Ctrl-C ends the process at once.',
    `Built-in scenarios: ${Object.entries(BUILTIN_SCENARIO_SUMMARIES).map(([name, what]) => `${name} (${what})`).join('; ')}.`,
    'The verdict is about the devices, never about the observer: an expectation the observer could not check because it missed messages the devices say they sent is inconclusive (exit 4), with the reason in plain words, never a failure and never a pass. A run that finds live devices of another run under its prefix refuses to start (exit 3); give it its own --prefix. No run hangs: a broker that goes away is waited for --broker-grace, then the run ends with exit 3.'
  ],
  positionals: [{ name: 'scenario', required: true, description: 'a scenario file, or the name of a built-in scenario' }],
  options: RUN_OPTIONS,
  examples: [
    { command: 'fleet run demo', description: 'Run the built-in demo scenario on the embedded broker (what `npm start` does).' },
    { command: 'fleet run smoke.yaml --seed 7 --report reports/smoke.json', description: 'Run a file with a fixed seed and keep the JSON report (CI).' },
    { command: 'fleet run demo --port 1883 & fleet logs --level warn', description: 'Watch the devices of a run from another terminal.' },
    { command: 'fleet run demo --broker mqtt://broker.lab.example:1883 --log-file run.log --log-level debug', description: 'Run against an external broker, with debug logs in run.log.' },
    { command: 'fleet run demo --json --quiet | jq .result', description: 'Only the JSON report, for scripts.' },
    { command: 'fleet run rollout-canary', description: 'A firmware rollout that halts and rolls back; the rollout service runs on a temporary data directory.' },
    { command: 'fleet run rollout-restart --data-dir ./rollouts', description: 'Keep the rollout state (SQLite) in ./rollouts, where fleet rollout status --data-dir ./rollouts reads it after the run.' },
    { command: 'fleet run demo --broker mqtt://127.0.0.1:1883 --prefix ci-42 --clear-retained both', description: 'Beside other runs on a shared broker, leaving nothing retained behind.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'every step and expectation passed' },
    { code: 1, meaning: 'a step or an expectation failed, or the run was aborted (Ctrl-C)' },
    { code: 2, meaning: 'bad usage, or a bad or missing scenario file (file:line of each problem on stderr)' },
    { code: 3, meaning: 'the broker is unreachable or refused the connection, went away for longer than --broker-grace, or another run is live under the prefix (FLEET_ERR_RUN_CONFLICT); or the embedded broker cannot listen on --port' },
    { code: 4, meaning: 'inconclusive: nothing failed, but the observer missed messages an expectation needed (see the report\'s Observer line)' }
  ],
  async run (ctx) {
    const { runScenarioCommand } = await import('./run.ts')
    return runScenarioCommand(ctx)
  }
})

// ---- fleet logs --------------------------------------------------------------------------------------------------

export const LOGS_OPTIONS = {
  broker: urlOption({ short: 'b', default: 'mqtt://127.0.0.1:1883', description: 'Broker to watch' }),
  prefix: stringOption({ valueName: 'PREFIX', default: DEFAULT_PREFIX, check: prefixCheck, description: 'Topic prefix of the fleet' }),
  device: listOption({ short: 'd', valueName: 'GLOB', check: deviceCheck, description: 'Only devices whose id matches: an id, or a glob with * and ?' }),
  kind: listOption({ short: 'k', valueName: 'KIND', choices: DEVICE_KINDS, description: 'Only devices of this kind' }),
  room: listOption({ short: 'r', valueName: 'ROOM', description: "Only devices in this room, by any of its English or French names (cuisine = kitchen, l'entrée = front door), ignoring case, accents and separators (Living Room = living-room)" }),
  level: enumOption({ short: 'l', valueName: 'LEVEL', choices: LOG_LEVELS, default: 'trace', description: 'Lowest level to show (devices publish info and above unless told otherwise)' }),
  json: flag({ description: 'One JSON object per line: {time, ts, level, deviceId, kind, room, name, msg, fields} (raw instead of msg and fields for a payload that is not JSON)' }),
  count: integerOption({ short: 'n', min: 1, max: 1_000_000_000, description: 'Exit 0 after printing N lines' }),
  timeout: durationOption({ short: 't', minMs: 1, maxMs: 604_800_000, description: 'Exit after this long: 0 normally, 1 when --count was given and not reached' }),
  connectTimeout: durationOption({ minMs: 1, maxMs: 600_000, default: '5s', description: 'Give up (exit 3) when the broker has not accepted the connection within this time' })
} as const satisfies OptionTable
export type LogsValues = OptionValues<typeof LOGS_OPTIONS>

const logsCommand = defineCommand({
  name: 'logs',
  summary: 'Watch device log lines live, filtered by device, kind, room and level',
  description: [
    'Subscribes to {prefix}/+/log (the lines devices publish) and to the retained {prefix}/+/info (each device\'s kind and room), and prints each line that passes the filters: pretty text (time, level, device, room, message, fields as key=value; the level in colour on a terminal unless NO_COLOR is set) or, with --json, one JSON object per line.',
    'With --kind or --room, a line from a device whose info has not arrived yet is held (up to 1000 lines per device) and printed, if it matches, when the info arrives; without those filters it is printed at once with the kind and room left out. A payload that is not JSON is printed as a raw line (level RAW, counted as info for --level).',
    'Runs until Ctrl-C (exit 0), --count lines or --timeout. When the connection drops, a note goes to stderr and the client reconnects and subscribes again. A broker that refuses the subscription (SUBACK 0x80) ends it with exit 3.'
  ],
  positionals: [],
  options: LOGS_OPTIONS,
  examples: [
    { command: 'fleet logs', description: 'Everything from the fleet on the local broker.' },
    { command: 'fleet logs --kind speaker --room kitchen --level warn', description: 'Warnings and errors from kitchen speakers.' },
    { command: "fleet logs --device 'demo-*' --json | jq .msg", description: 'JSON lines from the demo home, for scripts.' },
    { command: 'fleet logs --broker mqtt://broker.lab.example:1883 --prefix lab/home --count 10 --timeout 30s', description: 'The next 10 lines from another broker; exit 1 if they do not come within 30 s.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'stopped by Ctrl-C/SIGTERM, after --count lines, at --timeout, or when the program reading stdout went away (such as head)' },
    { code: 1, meaning: '--timeout ran out before --count lines were printed' },
    { code: 2, meaning: 'bad usage (unknown flag, bad value)' },
    { code: 3, meaning: 'the broker is unreachable within --connect-timeout, or refused the connection or the subscription (FLEET_ERR_BROKER_REFUSED)' }
  ],
  async run (ctx) {
    const { runLogsCommand } = await import('./logs.ts')
    return runLogsCommand(ctx)
  }
})

// ---- fleet voice -------------------------------------------------------------------------------------------------

export const VOICE_ACTIONS = ['parse', 'say'] as const

export const VOICE_OPTIONS = {
  json: flag({ description: 'Print one JSON object per utterance: the parse ({text, lang, intent, confidence, slots, spans, explanation}), or for say the answer ({outcome, speech, results, …})' }),
  lang: enumOption({ valueName: 'LANG', choices: ['en', 'fr'], defaultText: 'detected per utterance', description: "Understand the utterance as this language only (its grammar, and the answer's language)" }),
  broker: urlOption({ short: 'b', defaultText: 'parse: the demo home; say: mqtt://127.0.0.1:1883', description: 'The broker of a running fleet: say carries the utterance out there; parse learns the names of its devices from their retained info' }),
  from: stringOption({ short: 'f', valueName: 'DEVICE', check: deviceCheck, description: 'say: the id of the speaker that heard it: requests without a room use its room, and it speaks the answer' }),
  prefix: stringOption({ valueName: 'PREFIX', default: DEFAULT_PREFIX, check: prefixCheck, description: 'Topic prefix of the fleet' }),
  timeout: durationOption({ short: 't', minMs: 1, maxMs: 600_000, default: '3s', description: "say: how long to wait for each device's reply" }),
  connectTimeout: durationOption({ minMs: 1, maxMs: 600_000, default: '5s', description: 'Give up (exit 3) when the broker has not accepted the connection within this time' })
} as const satisfies OptionTable
export type VoiceValues = OptionValues<typeof VOICE_OPTIONS>

const voiceCommand = defineCommand({
  name: 'voice',
  summary: 'Show what the Cortana voice bridge understands of an utterance (parse), or carry it out against a running fleet (say)',
  description: [
    '`fleet voice parse "<utterance>"` prints the intent, the slots (device, room, kind, all, level, delta, media, on, time), the confidence, the language and the template that matched, against the demo home, or against the devices of a running fleet with --broker. An utterance the grammar does not explain, or a request no home can serve here (lights, weather, timers…), is intent None.',
    'Without an utterance, `fleet voice parse` reads one utterance per line from standard input and prints one JSON line per utterance, in order (blank lines are skipped): a batch evaluator.',
    '`fleet voice say "<utterance>"` learns the home from the broker (the devices\' retained info, status and reported state), understands the utterance, commands the devices meant and prints the spoken answer and each device\'s result. With --from, the request is heard by that speaker: a request that names no room uses its room, and the speaker says the answer (its say command).'
  ],
  positionals: [
    { name: 'action', required: true, description: `what to do: ${VOICE_ACTIONS.join(', ')}` },
    { name: 'utterance', required: false, description: 'what was said; parse reads it line by line from stdin when absent' }
  ],
  options: VOICE_OPTIONS,
  examples: [
    { command: 'fleet voice parse "Hey Cortana, turn the kitchen speaker down by 20"', description: 'ChangeVolume, device kitchen speaker, delta -20.' },
    { command: 'fleet voice parse --json "Dis Cortana, réveille-moi à 7 heures et quart"', description: 'SetAlarm, time 07:15, as JSON.' },
    { command: 'fleet voice parse < utterances.txt > parses.jsonl', description: 'Batch: one JSON line per input line.' },
    { command: 'fleet voice say "turn off the kitchen" --broker mqtt://127.0.0.1:1883', description: 'Turn off every device in the kitchen of a running fleet.' },
    { command: 'fleet voice say "plus fort" --from demo-office-speaker', description: 'Louder, on the speaker that heard it; it says the answer.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'parse: parsed (None is still a parse); say: done, or partly done (the answer says what failed)' },
    { code: 1, meaning: 'say: nothing could be done: not understood, no such device, a question back (which one?), or every device failed' },
    { code: 2, meaning: 'bad usage (unknown action or flag, bad --lang, say without an utterance)' },
    { code: 3, meaning: 'the broker is unreachable within --connect-timeout or refused the connection' }
  ],
  async run (ctx) {
    const { runVoiceCommand } = await import('./voice.ts')
    return runVoiceCommand(ctx)
  }
})

// ---- fleet rollout -----------------------------------------------------------------------------------------------

export const ROLLOUT_ACTIONS = ['import', 'deploy', 'status', 'pause', 'resume', 'cancel', 'retry', 'serve'] as const
export type RolloutAction = typeof ROLLOUT_ACTIONS[number]

export const ROLLOUT_OPTIONS = {
  broker: urlOption({ short: 'b', defaultText: 'mqtt://127.0.0.1:1883; import and status without --broker but with --data-dir work on the data directory directly', description: 'Broker of the fleet whose rollout service to talk to' }),
  prefix: stringOption({ valueName: 'PREFIX', default: DEFAULT_PREFIX, check: prefixCheck, description: 'Topic prefix of the fleet' }),
  dataDir: stringOption({ valueName: 'DIR', check: notEmpty, defaultText: '.homefleet', description: 'Rollout data directory (its SQLite database): where serve keeps its state; import and status use it directly when no --broker is given' }),
  json: flag({ description: 'Print the result as JSON' }),
  id: stringOption({ valueName: 'ID', check: notEmpty, defaultText: 'generated', description: 'deploy: the new deployment\'s id' }),
  group: stringOption({ short: 'g', valueName: 'GROUP', check: notEmpty, defaultText: '$default (devices without an ADUGroup tag)', description: 'deploy: the device group (ADUGroup tag)' }),
  start: stringOption({ valueName: 'TIME', check: notEmpty, defaultText: 'now', description: 'deploy: scheduled start, an ISO time or +DURATION (+30m)' }),
  condition: stringOption({ valueName: 'QUERY', check: notEmpty, description: "deploy: target condition over tags and reported properties, e.g. \"tags.room = 'kitchen' AND properties.reported.firmware < '2.1.0'\"" }),
  waves: stringOption({ valueName: 'PERCENTS', check: (v) => /^\d+(\.\d+)?(,\d+(\.\d+)?)*$/.test(v) ? undefined : 'a comma-separated list of percentages such as 1,10,100', description: 'deploy: waves, each a percentage of the devices not yet in the deployment (1,10,100)' }),
  soak: durationOption({ minMs: 0, maxMs: 31 * 86_400_000, description: 'deploy: time between a wave meeting its success threshold and the next wave' }),
  success: numberOption({ min: 0, max: 100, description: 'deploy: % of a wave that must succeed to open the next (default 100)' }),
  error: numberOption({ min: 0, max: 100, description: 'deploy: % of a wave that, once failed, halts the deployment (default 100: never)' }),
  rate: integerOption({ min: 1, max: 100_000, description: 'deploy: constant rate limit, offers per minute' }),
  rateBase: integerOption({ min: 1, max: 100_000, description: 'deploy: exponential rate limit: offers per minute to start with' }),
  rateFactor: numberOption({ min: 1.1, max: 5, description: 'deploy: exponential rate limit: multiplier at each step up' }),
  rateNotified: integerOption({ min: 1, max: 1_000_000, description: 'deploy: exponential rate limit: step up after this many more notified devices' }),
  rateSucceeded: integerOption({ min: 1, max: 1_000_000, description: 'deploy: exponential rate limit: step up after this many more succeeded devices' }),
  rateMax: integerOption({ min: 1, max: 100_000, description: 'deploy: exponential rate limit: maximum offers per minute' }),
  abort: listOption({ valueName: 'TYPE:PCT:MIN', check: (v) => /^(FAILED|REJECTED|TIMED_OUT|ALL):\d+(\.\d+)?:\d+$/i.test(v) ? undefined : 'FAILED, REJECTED, TIMED_OUT or ALL, a percentage and a minimum count: FAILED:10:50', description: 'deploy: abort criterion: abort when TYPE failures reach PCT% of the notified devices, once MIN were notified (repeatable)' }),
  inProgressTimeout: durationOption({ minMs: 1, maxMs: 31 * 86_400_000, description: 'deploy: a device in progress longer than this is TimedOut' }),
  retries: integerOption({ min: 0, max: 10, description: 'deploy: automatic retries of a failed or timed-out device (0–10)' }),
  rollback: stringOption({ valueName: 'UPDATE', check: notEmpty, description: 'deploy: cloud-initiated rollback: the update (provider/name/version) to deploy to the group when the failure thresholds are met' }),
  rollbackFailedPercent: numberOption({ min: 0, max: 100, description: 'deploy: rollback when at least this % of the devices failed…' }),
  rollbackFailedCount: integerOption({ min: 1, max: 1_000_000, description: '…and at least this many' }),
  spec: stringOption({ valueName: 'FILE', check: notEmpty, description: 'deploy: the deployment as a JSON file (docs/rollouts.md); flags given override its fields' }),
  devices: flag({ description: 'status: list every device\'s record (state, wave, attempts, result codes)' }),
  watch: flag({ short: 'w', description: 'status: follow the deployment live until it completes, halts or ends; exit 1 unless it completed' }),
  speed: numberOption({ min: 0.001, max: 1000, default: 1, description: 'serve: rollout clock speed (timeouts, soak, rate windows), to match a fleet run with --speed' }),
  replyTimeout: durationOption({ minMs: 1, maxMs: 600_000, default: '10s', description: 'Give up (exit 3) when the rollout service has not answered within this time' })
} as const satisfies OptionTable
export type RolloutValues = OptionValues<typeof ROLLOUT_OPTIONS>

const rolloutCommand = defineCommand({
  name: 'rollout',
  summary: 'Import ADU update manifests and deploy them in waves to a running fleet; watch and steer the rollout',
  description: [
    '`import FILE...` checks ADU import manifests (4.0 and 5.0) and stores them, all or nothing: every problem is printed with file:line, JSON path and rule, and nothing is stored (exit 2). `deploy UPDATE` starts a deployment of provider/name/version to a group: waves with soak and gates, rate limits, abort criteria, timeouts, retries and rollback come from the flags or --spec. `status [ID]` shows one deployment (waves, counts, halt reason) or all with group compliance; --watch follows it live. `pause`, `resume`, `cancel` and `retry ID` steer a deployment. `serve` runs the rollout service on its own against --broker until Ctrl-C.',
    'Every action but serve talks to the rollout service of a running fleet over MQTT (request/reply on {prefix}/$bridge/rollout/…). import and status also work on a data directory directly: give --data-dir and no --broker. docs/rollouts.md explains each concept.'
  ],
  positionals: [
    { name: 'action', required: true, description: `what to do: ${ROLLOUT_ACTIONS.join(', ')}` },
    { name: 'args', required: false, variadic: true, description: 'manifest files (import), an update (deploy) or a deployment id' }
  ],
  options: ROLLOUT_OPTIONS,
  examples: [
    { command: 'fleet rollout import docs/examples/updates/*.importmanifest.json', description: 'Import the sample manifests into the running fleet\'s rollout service.' },
    { command: 'fleet rollout deploy Xiaomi/speaker-l09a/1.5.0 --id spk-150 --waves 1,10,100 --soak 10m --error 5', description: 'A canary wave of 1%, then 10%, then the rest, 10 minutes apart; halt above 5% failures.' },
    { command: 'fleet rollout deploy Xiaomi/band-8/2.1.0 --rollback Xiaomi/band-8/2.0.7 --rollback-failed-count 3', description: 'Roll the group back to 2.0.7 once 3 devices failed (2.0.7 must be imported).' },
    { command: 'fleet rollout status spk-150 --watch', description: 'A live progress line until the deployment completes or halts.' },
    { command: 'fleet rollout retry spk-150', description: 'Retry every failed and timed-out device.' },
    { command: 'fleet rollout import my.importmanifest.json --data-dir ./rollouts --json', description: 'Check and store a manifest without a running fleet.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'done; status --watch: the deployment completed' },
    { code: 1, meaning: 'status --watch: the deployment halted, was aborted, rolled back, superseded or cancelled; or the data directory is unusable' },
    { code: 2, meaning: 'bad usage, a bad manifest (every problem listed), a bad deployment request, no such update or deployment, or a verb the deployment\'s state refuses (a cancelled deployment cannot be reactivated)' },
    { code: 3, meaning: 'the broker is unreachable or refused the connection, or no rollout service answered within --reply-timeout' }
  ],
  async run (ctx) {
    const { runRolloutCommand } = await import('./rollout.ts')
    return runRolloutCommand(ctx)
  }
})

// ---- fleet bridge ------------------------------------------------------------------------------------------------

export const BRIDGE_OPTIONS = {
  broker: urlOption({ short: 'b', default: 'mqtt://127.0.0.1:1883', description: 'The broker of the fleet' }),
  prefix: stringOption({ valueName: 'PREFIX', default: DEFAULT_PREFIX, check: prefixCheck, description: 'Topic prefix of the fleet' }),
  timeout: durationOption({ short: 't', minMs: 1, maxMs: 600_000, default: '3s', description: "How long to wait for each device's reply" }),
  logLevel: enumOption({ short: 'l', valueName: 'LEVEL', choices: [...LOG_LEVELS, 'silent'], default: 'info', description: 'Lowest level of log lines to print (each voice request is an info line)' }),
  jsonLogs: flag({ description: 'Print logs as pino JSON lines instead of pretty text' }),
  connectTimeout: durationOption({ minMs: 1, maxMs: 600_000, default: '5s', description: 'Give up (exit 3) when the broker has not accepted the connection within this time' })
} as const satisfies OptionTable
export type BridgeValues = OptionValues<typeof BRIDGE_OPTIONS>

const bridgeCommand = defineCommand({
  name: 'bridge',
  summary: 'Run the bridge services (the Cortana voice bridge) against any broker until Ctrl-C',
  description: [
    'Connects to the broker, learns the home from the devices\' retained info, status and reported state (and follows it live), announces itself on {prefix}/$bridge/status (retained online, offline as its last will) and answers voice requests: any MQTT client publishes {"utterance": "...", "from": "<speaker id>"} on {prefix}/$bridge/voice/requests/<rid> and gets the answer on {prefix}/$bridge/voice/answers/<rid> (docs/voice.md).',
    'SIGINT (Ctrl-C) or SIGTERM publishes offline, closes the connection and exits 0.'
  ],
  positionals: [],
  options: BRIDGE_OPTIONS,
  examples: [
    { command: 'fleet bridge', description: 'Serve the fleet on mqtt://127.0.0.1:1883.' },
    { command: 'fleet bridge --broker mqtt://broker.lab.example:1883 --prefix lab/home --json-logs', description: 'Another broker and prefix, JSON log lines.' }
  ],
  exitCodes: [
    { code: 0, meaning: 'stopped by SIGINT or SIGTERM' },
    { code: 2, meaning: 'bad usage (unknown flag, bad value)' },
    { code: 3, meaning: 'the broker is unreachable within --connect-timeout, or refused the connection or a subscription' }
  ],
  async run (ctx) {
    const { runBridgeCommand } = await import('./bridge.ts')
    return runBridgeCommand(ctx)
  }
})

// ---- fleet help --------------------------------------------------------------------------------------------------

// ---- fleet bench -------------------------------------------------------------------------------------------------

const topicNameCheck = (v: string): string | undefined => /[+#]/.test(v) || v.includes('\u0000') ? 'a topic name without + or # (placeholders %i and %c allowed)' : undefined

export const BENCH_OPTIONS = {
  broker: urlOption({ short: 'b', keywords: ['embedded'], defaultText: 'embedded', description: 'The broker to load: an mqtt:// URL, or embedded to start the embedded broker for the run (on 127.0.0.1, a free port)' }),
  clients: integerOption({ short: 'c', min: 1, max: 1_000_000, default: 10, description: 'Clients: connections (conn), publishers (pub, pubsub) or subscribers (sub)' }),
  subscribers: integerOption({ min: 1, max: 100_000, default: 1, description: 'pubsub: subscribers, each subscribed to every publisher\'s topic' }),
  connectInterval: durationOption({ short: 'i', minMs: 0, maxMs: 60_000, description: 'Time between two connects (emqtt-bench -i); instead of --connect-rate' }),
  connectRate: integerOption({ short: 'R', min: 0, max: 1_000_000, default: 2000, description: 'Connects per second over the whole run; 0 connects as fast as possible' }),
  connectConcurrency: integerOption({ min: 0, max: 1_000_000, default: 0, description: 'Connects in progress at once (no CONNACK yet), over the whole run; 0 for no bound. A bound under the broker\'s listen backlog keeps a storm from losing SYNs to it (each lost one costs a 1 s retransmission)' }),
  interval: durationOption({ short: 'I', minMs: 1, maxMs: 3_600_000, description: 'Each publisher publishes once per interval, on a timer of its own (emqtt-bench -I), the publishers spread over the interval; a QoS 1 publisher with its --inflight window full skips that tick and counts it; instead of --rate' }),
  rate: numberOption({ min: 0, max: 100_000_000, default: 0, description: 'Messages per second over all publishers; 0 (with no --interval) sends as fast as the sockets take them' }),
  topic: stringOption({ short: 't', default: 'bench/%i', check: topicNameCheck, description: 'Topic to publish to (pub, pubsub) or subscribe to (sub); %i is the client index, %c the client id' }),
  subTopic: stringOption({ valueName: 'FILTER', description: "pubsub: the subscribers' filter; default: the topic with each level holding a placeholder made +" }),
  qos: enumOption({ short: 'q', choices: ['0', '1'], default: '0', description: 'QoS of publications and subscriptions' }),
  size: integerOption({ short: 's', min: 16, max: 268_435_455, default: 64, description: 'Payload size in bytes; the first 16 carry a sequence number, the publisher and the send time' }),
  limit: integerOption({ short: 'L', min: 0, max: 1_000_000_000, default: 0, description: 'Stop after this many messages in all (over all publishers); 0 for no limit' }),
  duration: durationOption({ short: 'd', minMs: 100, maxMs: 86_400_000, default: '10s', description: 'How long to send (after --warmup), or to hold the connections (conn)' }),
  warmup: durationOption({ minMs: 0, maxMs: 3_600_000, default: '0', description: 'Send for this long before measuring: warm-up messages count for loss, not for rates or latency' }),
  prefix: stringOption({ default: 'fleet-bench', check: (v) => /^[\w.-]+$/.test(v) ? undefined : 'letters, digits, _ . or -', description: 'Client id prefix: ids are <prefix>-<index>' }),
  startIndex: integerOption({ short: 'n', min: 0, max: 1_000_000_000, default: 0, description: 'Index of the first client (emqtt-bench -n), in ids and %i' }),
  username: stringOption({ short: 'u', description: 'MQTT user name' }),
  password: stringOption({ short: 'P', description: 'MQTT password' }),
  workers: integerOption({ short: 'w', min: 1, max: 64, defaultText: 'up to 2, one per core', description: 'Worker threads generating the load' }),
  maxOutstanding: integerOption({ min: 0, max: 10_000_000, default: 0, description: 'pubsub: a closed loop, at most this many messages sent and not yet received (needs --workers 1); 0 for an open loop' }),
  inflight: integerOption({ min: 1, max: 65_535, default: 64, description: 'QoS 1: unacknowledged messages per publisher, at most' }),
  failIf: stringOption({ valueName: 'CONDITIONS', description: 'Exit 1 when any holds, e.g. "p99>50ms,loss>0,rate<1000"; metrics: p50 p90 p99 p99.9 max loss loss% duplicates reordered errors sent received rate sent-rate connected conn-rate' }),
  json: flag({ description: 'Print the report as one JSON object on stdout (live lines still go to stderr)' }),
  quiet: flag({ description: 'No live line each second' })
} as const satisfies OptionTable
export type BenchValues = OptionValues<typeof BENCH_OPTIONS>

const benchCommand = defineCommand({
  name: 'bench',
  summary: 'Load-test a broker: connection storms, publish, subscribe and end-to-end latency',
  description: [
    'Generates MQTT load from worker threads with a lean MQTT 3.1.1 client (TCP_NODELAY, no MQTT.js), against the embedded broker (started for the run) or any broker given with --broker. Modes: conn holds --clients connections; pub publishes; sub subscribes and counts; pubsub publishes and subscribes in one run and measures end-to-end latency from a timestamp in each payload, and loss, duplicates and reordering from a sequence number.',
    'A live line goes to stderr each second (connections, sent/s, received/s, p50/p99 latency, errors), then the summary: rates, latency percentiles (p50, p90, p99, p99.9, max) from an HDR-style histogram, loss and errors by reason. --json prints the report as JSON. --fail-if turns conditions into exit code 1. Every run is bounded by --duration (and --limit); the load goes to the given host only.'
  ],
  positionals: [{ name: 'mode', description: 'conn, pub, sub or pubsub', required: true }],
  options: BENCH_OPTIONS,
  examples: [
    { command: 'fleet bench pubsub -c 100 --duration 10s', description: '100 publishers and 1 subscriber on the embedded broker, as fast as it goes' },
    { command: 'fleet bench pub -b mqtt://127.0.0.1:1883 -c 50 --rate 20000 -t "load/%i/telemetry" -q 1', description: '20,000 QoS 1 messages per second to a running broker' },
    { command: 'fleet bench conn -c 10000 -R 2000 --duration 5s', description: 'a connection storm of 10,000 clients at 2,000 connects per second' },
    { command: 'fleet bench pubsub -c 10 --rate 1000 --fail-if "p99>50ms,loss>0" --json', description: 'a CI check: exit 1 when the 99th percentile passes 50 ms or a message is lost' }
  ],
  exitCodes: [
    { code: 0, meaning: 'the run completed and no --fail-if condition held' },
    { code: 1, meaning: 'a --fail-if condition held' },
    { code: 2, meaning: 'bad usage: an unknown mode, a bad flag or a --fail-if condition that cannot be read' },
    { code: 3, meaning: 'the broker could not be reached' }
  ],
  async run (ctx) {
    const { runBenchCommand } = await import('./bench.ts')
    return runBenchCommand(ctx)
  }
})

const helpCommand = defineCommand({
  name: 'help',
  summary: 'Show the help of fleet, or of one command',
  description: ['The same text as `fleet --help` or `fleet <command> --help`.'],
  positionals: [{ name: 'command', required: false, description: 'the command to describe' }],
  options: {},
  examples: [{ command: 'fleet help logs', description: 'Every option of fleet logs, with examples.' }],
  exitCodes: [{ code: 0, meaning: 'help printed' }, { code: 2, meaning: 'no such command' }],
  async run (ctx) {
    const { printHelp } = await import('./help.ts')
    return printHelp(ctx.positionals[0], ctx.io)
  }
})

export const COMMANDS: readonly Command[] = [runCommand, brokerCommand, logsCommand, voiceCommand, bridgeCommand, rolloutCommand, benchCommand, helpCommand]

export function findCommand (name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name)
}

/** Exit codes shared by every command: the contract CI scripts rely on. */
export const EXIT_CODES: readonly ExitCodeDoc[] = [
  { code: 0, meaning: 'success: the run passed; broker or logs stopped by Ctrl-C/SIGTERM; logs printed --count lines, reached --timeout or lost its reader' },
  { code: 1, meaning: 'a step, expectation or threshold failed; a run was aborted (Ctrl-C); logs --timeout ran out before --count lines; an unexpected error' },
  { code: 2, meaning: 'bad usage (unknown command or flag, missing or extra argument, bad value) or a bad input file (scenario file invalid or missing)' },
  { code: 3, meaning: 'the broker is unreachable or refused the connection or a subscription, went away mid-run for longer than the grace period, or another run is live under the prefix; or the embedded broker cannot listen (port in use)' },
  { code: 4, meaning: 'a run was inconclusive: no expectation failed, but some could not be checked because the observer missed messages' }
]
