/**
 * `fleet logs`: connect, watch device logs through {@link watchDeviceLogs}, print each line, stop on Ctrl-C,
 * `--count` or `--timeout`.
 */
import { randomBytes } from 'node:crypto'
import { createMqttClient, endClient, waitConnected, type BrokerTarget } from '../core/mqtt-connect.ts'
import { createTopics } from '../core/topics.ts'
import type { CommandContext, LogsValues } from './commands.ts'
import { abortReasonText, useColor, whenAborted } from './io.ts'
import { createLogFilter, formatLogJson, formatLogLine } from './log-format.ts'
import { watchDeviceLogs, type LogEntry } from './log-watch.ts'
import { EMPTY, identity, map, merge, Observable, take, takeUntil, tap, timer } from 'rxjs'
import { abortion } from '../core/streams.ts'
import { formatDuration } from '../core/duration.ts'

type Outcome = 'signal' | 'count' | 'timeout' | 'output-closed'

/** Lines held per device while its info is unknown (docs/cli.md, "Lines before the info"). */
const HOLD_PER_DEVICE = 1000

export async function runLogsCommand (ctx: CommandContext<LogsValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const topics = createTopics(o.prefix)
  const filter = createLogFilter({ devices: o.device, kinds: o.kind, rooms: o.room, minLevel: o.level })
  const target: BrokerTarget = { url: o.broker }
  const color = !o.json && useColor(io.stdout, io.env)
  const note = (text: string): void => { io.stderr.write(`fleet logs: ${text}\n`) }

  const client = createMqttClient(target, {
    clientId: `fleet-logs-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: o.connectTimeout,
    resubscribe: true
  })
  // An EventEmitter 'error' without a listener throws; after the first connect, errors only mean "reconnecting".
  let lastError: string | undefined
  client.on('error', (err) => { lastError = err.message })

  try {
    const connected = waitConnected(client, target, o.connectTimeout)
    const aborted = whenAborted(signal).then(() => 'aborted' as const)
    if (await Promise.race([connected.then(() => 'connected' as const), aborted]) === 'aborted') {
      connected.catch(() => { /* we stopped waiting */ })
      await endClient(client, true)
      return 0
    }
  } catch (err) {
    await endClient(client, true)
    throw err
  }

  let printed = 0
  const print = (entry: LogEntry): void => {
    const line = o.json ? formatLogJson(entry.record, entry.info) : formatLogLine(entry.record, entry.info, { color })
    io.stdout.write(`${line}\n`)
    printed++
  }

  // `fleet logs | head -3`: when the reader goes away, stop instead of dying on EPIPE.
  const out = io.stdout as { on?: (e: string, f: (err: NodeJS.ErrnoException) => void) => unknown; off?: (e: string, f: (err: NodeJS.ErrnoException) => void) => unknown }
  const outputClosed$ = new Observable<Outcome>((sub) => {
    const onError = (err: NodeJS.ErrnoException): void => { if (err.code === 'EPIPE') sub.next('output-closed') }
    out.on?.('error', onError)
    return () => { out.off?.('error', onError) }
  })

  let dropped = false
  const onOffline = (): void => {
    if (dropped) return
    dropped = true
    note(`connection to ${o.broker} lost${lastError === undefined ? '' : ` (${lastError})`}; reconnecting…`)
  }
  const onConnect = (): void => {
    if (!dropped) return
    dropped = false
    note(`reconnected to ${o.broker}`)
  }
  client.on('offline', onOffline)
  client.on('connect', onConnect)

  const watch = watchDeviceLogs(client, { topics, filter, holdPerDevice: HOLD_PER_DEVICE })
  // What ends the watch, whichever comes first: Ctrl-C, --timeout, the reader closing; --count ends it by take().
  const stop$ = merge(
    abortion(signal).pipe(map((): Outcome => 'signal')),
    o.timeout === undefined ? EMPTY : timer(o.timeout).pipe(map((): Outcome => 'timeout')),
    outputClosed$
  )
  let why = 'count' as Outcome
  try {
    await new Promise<void>((resolve, reject) => {
      watch.entries$.pipe(
        o.count === undefined ? identity : take(o.count),
        takeUntil(stop$.pipe(tap((w) => { why = w })))
      ).subscribe({ next: print, error: reject, complete: resolve })
    })
    if (why === 'signal' && ctx.debug) note(`stopped by ${abortReasonText(signal)}`)
    if (why !== 'count') {
      const { held, dropped } = watch.router
      if (held > 0) note(`${held} line(s) not shown: their devices' info (kind, room) never arrived`)
      if (dropped > 0) note(`${dropped} line(s) not shown: dropped while their devices' info (kind, room) was unknown, beyond ${HOLD_PER_DEVICE} held per device`)
    }
    if (why === 'timeout' && o.count !== undefined && printed < o.count) {
      note(`--timeout ${formatDuration(o.timeout ?? 0)} ran out after ${printed} of ${o.count} line(s)`)
      return 1
    }
    return 0
  } finally {
    client.off('offline', onOffline)
    client.off('connect', onConnect)
    await endClient(client, !client.connected)
  }
}
