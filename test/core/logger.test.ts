/**
 * `flushLogger` resolves only once every line logged before it is in the file: `fleet run --log-file` flushes at the
 * end and the file is read right after (by a user, or by test/cli/run.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger, flushLogger } from '../../core/logger.ts'
import { Teardown } from '../helpers/teardown.ts'

const td = new Teardown()
afterEach(async () => { await td.run() })

describe('flushLogger', () => {
  it('a file destination holds every line once it resolves, the first ones (file still opening) and the last', async () => {
    const dir = td.add(mkdtempSync(join(tmpdir(), 'homefleet-log-')), (d) => { rmSync(d, { recursive: true, force: true }) })
    const file = join(dir, 'sub', 'run.log')
    const logger = createLogger({ destination: file, level: 'info' })
    logger.info('first')
    await flushLogger(logger)
    expect(readFileSync(file, 'utf8')).toMatch(/"msg":"first"/)
    for (let i = 0; i < 1000; i++) logger.info({ i }, 'line')
    logger.info('last')
    await flushLogger(logger)
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    expect(lines).toHaveLength(1002)
    expect(lines.at(-1)).toMatch(/"msg":"last"/)
  })
})
