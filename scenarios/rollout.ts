/**
 * The rollout side of a scenario run (`fleet run --data-dir DIR`): the rollout service on the run's broker and clock,
 * with its state in DIR, and the update agent plugged into every device, so `fleet rollout …` from another terminal
 * (or a script) can import, deploy and watch against the running fleet. Kept out of runner.ts: the runner only
 * starts and stops it.
 */
import type { Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import type { BrokerTarget } from '../core/mqtt-connect.ts'
import { RolloutService } from '../bridge/rollout/service.ts'
import type { CapabilityFactory } from '../devices/capability.ts'
import { updateAgent } from '../devices/update-agent.ts'

export interface RunRollouts {
  /** Capabilities for the fleet's devices: the update agent. */
  readonly capabilities: readonly CapabilityFactory[]
  /** Start the service once the broker is reachable. */
  start (target: BrokerTarget): Promise<RolloutService>
  stop (): Promise<void>
}

export function runRollouts (options: { dataDir: string; prefix: string; clock: Clock; logger: Logger }): RunRollouts {
  let service: RolloutService | undefined
  return {
    capabilities: [updateAgent()],
    async start (target) {
      service = await RolloutService.start({ target, prefix: options.prefix, dataDir: options.dataDir, clock: options.clock, logger: options.logger })
      return service
    },
    async stop () {
      const s = service
      service = undefined
      await s?.stop()
    }
  }
}
