/**
 * The scenario examples in the README and docs/scenarios.md are real: each complete one (it has `name:` and
 * `timeline:`) must load and validate, so the docs cannot drift from the format.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadScenarioText } from '../scenarios/index.ts'

function yamlBlocks (file: string): string[] {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string)
}

describe.each(['README.md', 'docs/scenarios.md'])('scenario examples in %s', (file) => {
  const complete = yamlBlocks(file).filter((b) => /^name:/m.test(b) && /^timeline:/m.test(b))
  it('has at least one complete example', () => { expect(complete.length).toBeGreaterThan(0) })
  it.each(complete.map((b, i) => [i, b]))('example %i loads', (_i, block) => {
    const scenario = loadScenarioText(block, `${file} example`)
    expect(scenario.timeline.length).toBeGreaterThan(0)
  })
})
