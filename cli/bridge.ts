/**
 * `fleet bridge`: {@link Bridge} as its own process, serving voice requests until Ctrl-C.
 */
import { Bridge } from '../bridge/bridge.ts'
import { terminalLogger } from './broker.ts'
import type { BridgeValues, CommandContext } from './commands.ts'
import { abortReasonText, whenAborted } from './io.ts'

export async function runBridgeCommand (ctx: CommandContext<BridgeValues>): Promise<number> {
  const { options: o, io, signal } = ctx
  const logger = terminalLogger(io.stdout, io.env, { level: o.logLevel, json: o.jsonLogs, name: 'bridge' })
  const announce = logger.isLevelEnabled('info') ? logger : terminalLogger(io.stdout, io.env, { level: 'info', json: o.jsonLogs, name: 'bridge' })
  const bridge = await Bridge.start({ target: { url: o.broker }, prefix: o.prefix, commandTimeoutMs: o.timeout, connectTimeoutMs: o.connectTimeout, logger })
  announce.info({ url: o.broker, devices: bridge.home.size }, `bridge online at ${o.broker} (${bridge.home.size} devices known); voice requests on ${bridge.topics.voiceRequest('<rid>')}; Ctrl-C to stop`)
  try {
    await whenAborted(signal)
    logger.info(`${abortReasonText(signal)}: closing`)
  } finally {
    await bridge.stop()
  }
  return 0
}
