/**
 * How a `deployment` condition describes itself (the line a report prints for it): a stop phase and `halt:` together
 * read as one clause, with no word said twice.
 */
import { describe, expect, it } from 'vitest'
import { describeCondition } from '../../scenarios/index.ts'
import type { DeploymentCondition } from '../../scenarios/schema.ts'

function deployment (fields: Partial<DeploymentCondition>): DeploymentCondition {
  return { type: 'deployment', id: 'k', path: 'expect.deployment', line: 1, ...fields }
}

describe('describeCondition for deployment conditions', () => {
  it('a stop phase with halt is one clause', () => {
    expect(describeCondition(deployment({ phase: 'halted', halt: { wave: 1 } }))).toBe('deployment k: halted in wave 1')
    expect(describeCondition(deployment({ phase: 'aborted', halt: { wave: 2, failureRate: { op: '>=', value: 5 } } }))).toBe('deployment k: aborted in wave 2 with a failure rate ≥ 5%')
    expect(describeCondition(deployment({ phase: 'rolledBack', rolledBack: true, halt: { wave: 2, reason: 'threshold' } }))).toBe('deployment k: rolled back in wave 2 (/threshold/)')
    expect(describeCondition(deployment({ state: 'Failed', phase: 'halted', halt: {} }))).toBe('deployment k: Failed, halted')
  })

  it('other combinations keep every part, each once', () => {
    expect(describeCondition(deployment({ rolledBack: true, halt: { wave: 2, failureRate: { op: '>=', value: 5 } } }))).toBe('deployment k: rolled back, halted in wave 2 with a failure rate ≥ 5%')
    expect(describeCondition(deployment({ phase: 'rolledBack', rolledBack: true }))).toBe('deployment k: rolled back')
    expect(describeCondition(deployment({ phase: 'completed', counts: { Succeeded: { op: '=', value: 3 } } }))).toBe('deployment k: completed, Succeeded = 3')
    expect(describeCondition(deployment({ phase: 'halted' }))).toBe('deployment k: halted')
    expect(describeCondition(deployment({}))).toBe('deployment k exists')
  })
})
