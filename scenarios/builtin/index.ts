/** The built-in scenario library: YAML files next to this module, run by name (`fleet run demo`, `npm start`). */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Names of the built-in scenarios; each is `scenarios/builtin/<name>.yaml`. */
export const BUILTIN_SCENARIOS: readonly string[] = Object.freeze(['demo', 'voice-evening', 'rollout-staged', 'rollout-canary', 'rollout-restart', 'rollout-bricked'])

/**
 * The file of a built-in scenario, or undefined when `name` is not one.
 *
 * @example
 * const file = builtinScenarioPath('demo') // …/scenarios/builtin/demo.yaml
 * if (file !== undefined) await runScenario(await loadScenarioFile(file))
 */
export function builtinScenarioPath (name: string): string | undefined {
  if (!BUILTIN_SCENARIOS.includes(name)) return undefined
  const file = fileURLToPath(new URL(`./${name}.yaml`, import.meta.url))
  return existsSync(file) ? file : undefined
}
