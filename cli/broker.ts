/**
 * `fleet broker`: {@link createBroker} with a terminal logger, a stats line, and a graceful close on a signal.
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import { prettyFactory } from 'pino-pretty'
import { createBroker, type BrokerStats } from '../broker/broker.ts'
import type { BrokerValues, CommandContext } from './commands.ts'
import { abortReasonText, useColor, whenAborted, type CliIo, type OutStream } from './io.ts'

/**
 * A pino logger writing to `out`: pretty text (pino-pretty's formatter, run synchronously in this thread, so lines
 * appear in order with the rest of the output and nothing is lost at exit) or JSON lines.
 */
export function terminalLogger (out: OutStream, env: CliIo['env'], options: { level: string; json: boolean; name?: string }): Logger {
  let destination: DestinationStream
  if (options.json) {
    destination = { write (line: string) { out.write(line) } }
  } else {
    // `stats` and `url` repeat what the message says; JSON lines keep them for machines.
    const pretty = prettyFactory({ colorize: useColor(out, env), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,stats,url', singleLine: true })
    destination = { write (line: string) { out.write(pretty(line)) } }
  }
  return pino({ level: options.level, name: options.name ?? 'fleet', base: null }, destination)
}

export function formatStats (s: BrokerStats, previous: BrokerStats | undefined, intervalMs: number): string {
  const rate = previous === undefined ? '' : `, ${Math.round((s.publishedIn - previous.publishedIn) / (intervalMs / 1000))}/s`
  return `stats: ${s.clients} client(s) connected, ${s.connectionsTotal} connection(s) since start, ${s.publishedIn} publish(es) in${rate}, ${s.clientErrors} client error(s)`
}

export async function runBrokerCommand (ctx: CommandContext<BrokerValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const logger = terminalLogger(io.stdout, io.env, { level: o.logLevel, json: o.jsonLogs })
  // The URL is printed whatever --log-level says: it is the command's answer, not a log line.
  const announce = logger.isLevelEnabled('info') ? logger : terminalLogger(io.stdout, io.env, { level: 'info', json: o.jsonLogs })

  const broker = await createBroker({ port: o.port, host: o.host, logger })
  announce.info({ url: broker.url }, `listening on ${broker.url ?? '(no TCP listener)'}; Ctrl-C to stop`)

  let previous: BrokerStats | undefined
  const timer = o.statsInterval === 0
    ? undefined
    : setInterval(() => {
        const s = broker.stats()
        const changed = previous === undefined || s.clients !== previous.clients || s.connectionsTotal !== previous.connectionsTotal ||
          s.publishedIn !== previous.publishedIn || s.clientErrors !== previous.clientErrors
        const line = formatStats(s, previous, o.statsInterval)
        if (changed) logger.info({ stats: s }, line)
        else logger.debug({ stats: s }, line)
        previous = s
      }, o.statsInterval)

  try {
    await whenAborted(signal)
    logger.info(`${abortReasonText(signal)}: closing`)
  } finally {
    if (timer !== undefined) clearInterval(timer)
    await broker.close()
  }
  return 0
}
