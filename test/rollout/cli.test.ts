/**
 * `fleet rollout`, run in-process through `main()`: offline import and status on a data directory, bad manifests with
 * every issue and exit 2, usage errors, and the actions against a running rollout service over MQTT (with --json),
 * including `status --watch` and the exit code of a halted deployment.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { Teardown } from '../helpers/teardown.ts'
import { testIo } from '../cli/helpers.ts'
import { sampleFiles, startWorld } from './mqtt-helpers.ts'

const teardown = new Teardown()
afterEach(async () => { await teardown.run() })

function tempDir (): string {
  return teardown.add(mkdtempSync(join(tmpdir(), 'homefleet-cli-')), (d) => { rmSync(d, { recursive: true, force: true }) })
}

describe('fleet rollout on a data directory', () => {
  it('imports the samples, is a no-op the second time, and shows them in status', async () => {
    const dir = tempDir()
    const io = testIo()
    expect(await main(['rollout', 'import', ...sampleFiles(), '--data-dir', dir], io)).toBe(0)
    expect(io.out.text).toMatch(/imported {2}Xiaomi\/speaker-l09a\/1.5.0/)
    const again = testIo()
    expect(await main(['rollout', 'import', ...sampleFiles(), '--data-dir', dir, '--json'], again)).toBe(0)
    expect(JSON.parse(again.out.text)).toMatchObject({ imported: [], unchanged: expect.arrayContaining(['Xiaomi/band-8/2.1.0']) as unknown })
    const status = testIo()
    expect(await main(['rollout', 'status', '--data-dir', dir], status)).toBe(0)
    expect(status.out.text).toMatch(/Xiaomi\/camera-c300-firmware\/5.2.0 \(not deployable: a child update\)/)
  })

  it('a bad manifest: every issue with file:line, JSON path and rule, exit 2, nothing stored', async () => {
    const dir = tempDir()
    const file = join(dir, 'bad.importmanifest.json')
    const m = JSON.parse(readFileSync(sampleFiles().find((f) => f.includes('speaker-l09a-1.5.0')) as string, 'utf8')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    m.updateId.version = 'v1'
    m.files[0].hashes.sha256 = 'abc'
    writeFileSync(file, JSON.stringify(m, null, 2))
    const io = testIo()
    expect(await main(['rollout', 'import', file, '--data-dir', dir], io)).toBe(2)
    expect(io.err.text).toMatch(/FLEET_ERR_MANIFEST_INVALID/)
    expect(io.err.text).toMatch(new RegExp(`${file}:\\d+:\\d+: \\$\\.updateId\\.version: \\[pattern`))
    expect(io.err.text).toMatch(/\$\.files\[0\]\.hashes\.sha256: \[sha256 base64 of 32 bytes\]/)
    const status = testIo()
    await main(['rollout', 'status', '--data-dir', dir, '--json'], status)
    expect(JSON.parse(status.out.text)).toMatchObject({ updates: [] })
  })

  it('usage errors exit 2', async () => {
    const dir = tempDir()
    for (const args of [['rollout', 'launch'], ['rollout', 'import', '--data-dir', dir], ['rollout', 'deploy', 'A/b/1.0', '--data-dir', dir], ['rollout', 'pause', '--broker', 'mqtt://127.0.0.1:1']]) {
      const io = testIo()
      expect(await main(args, io), args.join(' ')).toBe(2)
    }
  })

  it('no rollout service on the broker: exit 3', async () => {
    const w = await startWorld(teardown)
    await w.service.stop()
    const io = testIo()
    expect(await main(['rollout', 'status', '--broker', w.url, '--prefix', w.prefix, '--reply-timeout', '300ms'], io)).toBe(3)
    expect(io.err.text).toMatch(/FLEET_ERR_ROLLOUT_TIMEOUT/)
  })
})

describe('fleet rollout against a running service', () => {
  it('imports, deploys with flags, steers and watches a deployment to the end', async () => {
    const w = await startWorld(teardown, { speed: 60 })
    await w.addDevices(4)
    const common = ['--broker', w.url, '--prefix', w.prefix]
    expect(await main(['rollout', 'import', ...sampleFiles(), ...common], testIo())).toBe(0)
    const deploy = testIo()
    expect(await main(['rollout', 'deploy', 'Xiaomi/speaker-l09a/1.5.0', '--id', 'c1', '--waves', '50,100', '--soak', '1m', '--error', '50', '--abort', 'failed:50:4', '--in-progress-timeout', '10m', '--retries', '1', '--json', ...common], deploy)).toBe(0)
    const spec = (JSON.parse(deploy.out.text) as { spec: Record<string, unknown> }).spec
    expect(spec).toMatchObject({ id: 'c1', waves: [{ percent: 50, soakMs: 60_000, errorThreshold: 50 }, { percent: 100 }], abort: [{ failureType: 'FAILED', thresholdPercent: 50, minExecuted: 4 }], inProgressTimeoutMs: 600_000, retries: 1 })
    const watch = testIo()
    expect(await main(['rollout', 'status', 'c1', '--watch', ...common], watch)).toBe(0)
    expect(watch.err.text).toMatch(/c1: Active \(completed\) wave 2\/2 {2}4\/4 done/)
    expect(watch.out.text).toMatch(/state Active \(completed\)/)
    const cancel = testIo()
    expect(await main(['rollout', 'cancel', 'c1', ...common], cancel)).toBe(0)
    const resume = testIo()
    expect(await main(['rollout', 'resume', 'c1', ...common], resume)).toBe(2)
    expect(resume.err.text).toMatch(/cannot be reactivated/)
  })

  it('status --watch exits 1 when the deployment halts', async () => {
    const w = await startWorld(teardown, { speed: 60 })
    await w.addDevices(4, { script: 'fail' })
    const common = ['--broker', w.url, '--prefix', w.prefix]
    expect(await main(['rollout', 'import', ...sampleFiles(), ...common], testIo())).toBe(0)
    expect(await main(['rollout', 'deploy', 'Xiaomi/speaker-l09a/1.5.0', '--id', 'h1', '--waves', '50,100', '--error', '10', ...common], testIo())).toBe(0)
    const watch = testIo()
    expect(await main(['rollout', 'status', 'h1', '--watch', ...common], watch)).toBe(1)
    expect(watch.out.text).toMatch(/halted: wave 1 error threshold exceeded/)
  })
})
