/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- manifests are plain JSON, broken one rule at a time by free mutation */
/**
 * ADU import manifests 4.0 and 5.0: a valid manifest of each version imports, a bundle (parent + children) imports
 * together, and each rule, broken alone, is reported with its JSON path, its rule and its line.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FleetError } from '../../core/errors.ts'
import { checkManifest, checkManifestText } from '../../bridge/rollout/manifest.ts'
import { planImport, planImportTexts, type UpdateCatalog } from '../../bridge/rollout/manifest-import.ts'
import { generatePayload, payloadSeed, sha256Base64 } from '../../bridge/rollout/payload.ts'

const SHA = sha256Base64(Buffer.from('payload'))

/** A manifest as ADU's own tooling writes it (az iot du init v5), for a toaster of Contoso's. */
function v5 (): Record<string, any> {
  return {
    updateId: { provider: 'Contoso', name: 'Toaster', version: '1.0' },
    isDeployable: true,
    compatibility: [{ manufacturer: 'Contoso', model: 'Toaster' }],
    instructions: { steps: [{ handler: 'microsoft/swupdate:2', files: ['firmware.swu'], handlerProperties: { installedCriteria: '1.0' } }] },
    files: [{ filename: 'firmware.swu', sizeInBytes: 7558, hashes: { sha256: SHA } }],
    createdDateTime: '2022-01-19T06:23:52.6996916Z',
    manifestVersion: '5.0'
  }
}

function v4 (): Record<string, any> {
  const m = v5()
  delete m.isDeployable
  m.manifestVersion = '4.0'
  m.instructions.steps[0].type = 'inline'
  m.updateId.version = '2021.11.8'
  return m
}

const emptyCatalog: UpdateCatalog = { manifestText: () => undefined, compatibilityOwner: () => undefined }

function issuesOf (m: unknown): { path: string; message: string; line?: number }[] {
  return checkManifestText(JSON.stringify(m, null, 2), 'toaster.importmanifest.json').issues.map((i) => ({ path: i.path, message: i.message, ...(i.line === undefined ? {} : { line: i.line }) }))
}

describe('one manifest', () => {
  it('accepts a valid 5.0 manifest', () => {
    const { manifest, findings } = checkManifest(v5())
    expect(findings).toEqual([])
    expect(manifest?.updateId.name).toBe('Toaster')
    expect(manifest?.instructions.steps[0]?.type).toBe('inline')
  })

  it('accepts a valid 4.0 manifest, isDeployable defaulting to true', () => {
    const { manifest, findings } = checkManifest(v4())
    expect(findings).toEqual([])
    expect(manifest?.manifestVersion).toBe('4.0')
    expect(manifest?.isDeployable).toBe(true)
  })

  it('accepts 5.0 file extras (properties, relatedFiles, downloadHandler) and refuses them in 4.0', () => {
    const m = v5()
    m.files[0].properties = { delta: true }
    m.files[0].relatedFiles = [{ filename: 'base.swu', sizeInBytes: 10, hashes: { sha256: SHA }, properties: { microsoft: 1 } }]
    m.files[0].downloadHandler = { id: 'microsoft/delta:1' }
    expect(checkManifest(m).findings).toEqual([])
    m.manifestVersion = '4.0'
    const paths = checkManifest(m).findings.map((f) => `${f.path.join('.')} ${f.rule}`)
    expect(paths).toEqual(expect.arrayContaining(['files.0.properties additionalProperties', 'files.0.relatedFiles additionalProperties', 'files.0.downloadHandler additionalProperties']))
  })

  it('accepts only reference steps with no files at all', () => {
    const m = v5()
    m.instructions.steps = [{ type: 'reference', updateId: { provider: 'Contoso', name: 'Toaster-fw', version: '1.0' } }]
    delete m.files
    expect(checkManifest(m).findings).toEqual([])
    m.files = null
    expect(checkManifest(m).findings).toEqual([])
  })

  // Each rule, broken alone: [what, how, JSON path, rule].
  const broken: [string, (m: Record<string, any>) => void, string, string][] = [
    ['updateId missing', (m) => { delete m.updateId }, '$.updateId', '[required]'],
    ['provider with a space', (m) => { m.updateId.provider = 'Con toso' }, '$.updateId.provider', '[pattern ^[a-zA-Z0-9.-]+$]'],
    ['provider empty', (m) => { m.updateId.provider = '' }, '$.updateId.provider', '[minLength 1]'],
    ['name of 65 characters', (m) => { m.updateId.name = 'n'.repeat(65) }, '$.updateId.name', '[maxLength 64]'],
    ['name with a slash', (m) => { m.updateId.name = 'a/b' }, '$.updateId.name', '[pattern'],
    ['version of one part', (m) => { m.updateId.version = '1' }, '$.updateId.version', '[pattern ^\\d+(?:\\.\\d+)+$]'],
    ['version with a letter', (m) => { m.updateId.version = '1.0-beta' }, '$.updateId.version', '[pattern'],
    ['version of five parts', (m) => { m.updateId.version = '1.2.3.4.5' }, '$.updateId.version', '[version parts 2-4]'],
    ['version part too large', (m) => { m.updateId.version = '1.2147483648' }, '$.updateId.version', '[version part <= 2147483647]'],
    ['updateId extra key', (m) => { m.updateId.channel = 'beta' }, '$.updateId.channel', '[additionalProperties]'],
    ['unknown top-level key', (m) => { m.signature = 'x' }, '$.signature', '[additionalProperties]'],
    ['manifestVersion 3.0', (m) => { m.manifestVersion = '3.0' }, '$.manifestVersion', '[enum 4.0|5.0]'],
    ['manifestVersion missing', (m) => { delete m.manifestVersion }, '$.manifestVersion', '[required]'],
    ['description too long', (m) => { m.description = 'd'.repeat(513) }, '$.description', '[maxLength 512]'],
    ['isDeployable a string', (m) => { m.isDeployable = 'no' }, '$.isDeployable', '[type boolean]'],
    ['compatibility empty', (m) => { m.compatibility = [] }, '$.compatibility', '[minItems 1]'],
    ['compatibility of 11 sets', (m) => { m.compatibility = Array.from({ length: 11 }, (_, i) => ({ model: `m${i}` })) }, '$.compatibility', '[maxItems 10]'],
    ['compatibility set with no property', (m) => { m.compatibility = [{}] }, '$.compatibility[0]', '[minProperties 1]'],
    ['compatibility set with 6 properties', (m) => { m.compatibility = [{ a: '1', b: '2', c: '3', d: '4', e: '5', f: '6' }] }, '$.compatibility[0]', '[maxProperties 5]'],
    ['compatibility name of 33 characters', (m) => { m.compatibility = [{ ['n'.repeat(33)]: 'x' }] }, `$.compatibility[0].${'n'.repeat(33)}`, '[propertyNames maxLength 32]'],
    ['compatibility value of 65 characters', (m) => { m.compatibility[0].model = 'v'.repeat(65) }, '$.compatibility[0].model', '[maxLength 64]'],
    ['compatibility value a number', (m) => { m.compatibility[0].model = 300 }, '$.compatibility[0].model', '[type string]'],
    ['compatibility value empty', (m) => { m.compatibility[0].model = '' }, '$.compatibility[0].model', '[minLength 1]'],
    ['instructions missing', (m) => { delete m.instructions }, '$.instructions', '[required]'],
    ['no steps', (m) => { m.instructions.steps = [] }, '$.instructions.steps', '[minItems 1]'],
    ['eleven steps', (m) => { m.instructions.steps = Array.from({ length: 11 }, () => m.instructions.steps[0]) }, '$.instructions.steps', '[maxItems 10]'],
    ['handler without a version', (m) => { m.instructions.steps[0].handler = 'microsoft/swupdate' }, '$.instructions.steps[0].handler', '[pattern ^\\S+/\\S+:\\d{1,5}$]'],
    ['handler with a 6-digit version', (m) => { m.instructions.steps[0].handler = 'microsoft/swupdate:123456' }, '$.instructions.steps[0].handler', '[pattern'],
    ['handler too long', (m) => { m.instructions.steps[0].handler = `microsoft/${'x'.repeat(30)}:1` }, '$.instructions.steps[0].handler', '[maxLength 32]'],
    ['inline step without files', (m) => { delete m.instructions.steps[0].files }, '$.instructions.steps[0].files', '[required]'],
    ['inline step with no file', (m) => { m.instructions.steps[0].files = [] }, '$.instructions.steps[0].files', '[minItems 1]'],
    ['step naming a file the update lacks', (m) => { m.instructions.steps[0].files = ['other.swu'] }, '$.instructions.steps[0].files[0]', '[step file in files]'],
    ['handlerProperties not an object', (m) => { m.instructions.steps[0].handlerProperties = 'x' }, '$.instructions.steps[0].handlerProperties', '[type object]'],
    ['step of an unknown type', (m) => { m.instructions.steps[0].type = 'script' }, '$.instructions.steps[0].type', '[enum inline|reference]'],
    ['step description too long', (m) => { m.instructions.steps[0].description = 'd'.repeat(65) }, '$.instructions.steps[0].description', '[maxLength 64]'],
    ['reference step without updateId', (m) => { m.instructions.steps[0] = { type: 'reference' } }, '$.instructions.steps[0].updateId', '[required]'],
    ['reference step with a bad version', (m) => { m.instructions.steps[0] = { type: 'reference', updateId: { provider: 'a', name: 'b', version: 'x' } } }, '$.instructions.steps[0].updateId.version', '[pattern'],
    ['reference step with handler', (m) => { m.instructions.steps[0] = { type: 'reference', handler: 'a/b:1', updateId: { provider: 'a', name: 'b', version: '1.0' } } }, '$.instructions.steps[0].handler', '[additionalProperties]'],
    ['eleven files', (m) => { m.files = Array.from({ length: 11 }, (_, i) => ({ filename: `f${i}`, sizeInBytes: 1, hashes: { sha256: SHA } })); m.instructions.steps[0].files = ['f0'] }, '$.files', '[maxItems 10]'],
    ['file without hashes', (m) => { delete m.files[0].hashes }, '$.files[0].hashes', '[required]'],
    ['hashes without sha256', (m) => { m.files[0].hashes = { md5: 'abc' } }, '$.files[0].hashes.sha256', '[required]'],
    ['sha256 not base64', (m) => { m.files[0].hashes.sha256 = 'not base64!' }, '$.files[0].hashes.sha256', '[sha256 base64 of 32 bytes]'],
    ['sha256 of 20 bytes', (m) => { m.files[0].hashes.sha256 = Buffer.alloc(20).toString('base64') }, '$.files[0].hashes.sha256', '[sha256 base64 of 32 bytes]'],
    ['sha256 as hex', (m) => { m.files[0].hashes.sha256 = 'a'.repeat(64) }, '$.files[0].hashes.sha256', '[sha256 base64 of 32 bytes]'],
    ['three hashes in 5.0', (m) => { m.files[0].hashes = { sha256: SHA, sha1: 'a', md5: 'b' } }, '$.files[0].hashes', '[maxProperties 2]'],
    ['size of 0', (m) => { m.files[0].sizeInBytes = 0 }, '$.files[0].sizeInBytes', '[minimum 1]'],
    ['size not a number', (m) => { m.files[0].sizeInBytes = '7558' }, '$.files[0].sizeInBytes', '[type number]'],
    ['size with a fraction', (m) => { m.files[0].sizeInBytes = 1.5 }, '$.files[0].sizeInBytes', '[integer]'],
    ['filename empty', (m) => { m.files[0].filename = '' }, '$.files[0].filename', '[minLength 1]'],
    ['filename twice', (m) => { m.files.push({ ...m.files[0] }) }, '$.files[1].filename', '[unique filename]'],
    ['files over 2 GB in total', (m) => { m.files.push({ filename: 'b.swu', sizeInBytes: 2 * 1024 ** 3, hashes: { sha256: SHA } }) }, '$.files', '[total size <= 2 GB]'],
    ['unknown file key', (m) => { m.manifestVersion = '4.0'; m.files[0].url = 'x' }, '$.files[0].url', '[additionalProperties]'],
    ['createdDateTime missing', (m) => { delete m.createdDateTime }, '$.createdDateTime', '[required]'],
    ['createdDateTime not ISO 8601', (m) => { m.createdDateTime = '19/01/2022 06:23' }, '$.createdDateTime', '[ISO 8601 date-time]'],
    ['not an object', (m) => { for (const k of Object.keys(m)) delete m[k]; (m as any).length = 0 }, '$.updateId', '[required]']
  ]

  it.each(broken)('%s', (_what, breakIt, path, rule) => {
    const m = v5()
    breakIt(m)
    const issues = issuesOf(m)
    const hit = issues.find((i) => i.path === path && i.message.startsWith(rule))
    expect(hit, `expected ${rule} at ${path}, got ${JSON.stringify(issues)}`).toBeDefined()
    expect(hit?.line).toBeGreaterThan(0)
  })

  it('4.0 limits a file to 2147483648 bytes; 5.0 has no per-file maximum', () => {
    const m = v4()
    m.files[0].sizeInBytes = 2147483649
    expect(issuesOf(m).map((i) => i.message)).toEqual(expect.arrayContaining([expect.stringContaining('[maximum 2147483648]')]))
    const n = v5()
    n.files[0].sizeInBytes = 2147483649
    expect(issuesOf(n).some((i) => i.message.includes('[maximum'))).toBe(false)
  })

  it('names the line of the offending node and reports every problem at once', () => {
    const m = v5()
    m.updateId.provider = 'bad provider'
    m.files[0].hashes.sha256 = 'short'
    const text = JSON.stringify(m, null, 2)
    const { issues } = checkManifestText(text, 'm.json')
    expect(issues).toHaveLength(2)
    const lines = text.split('\n')
    expect(lines[(issues[0]!.line as number) - 1]).toContain('"provider"')
    expect(lines[(issues[1]!.line as number) - 1]).toContain('"sha256"')
    expect(issues.every((i) => i.file === 'm.json')).toBe(true)
  })

  it('reports text that is not JSON with its line', () => {
    const { issues } = checkManifestText('{\n  "updateId": {,\n}', 'bad.json')
    expect(issues[0]?.message).toMatch(/^\[JSON\] not valid JSON/)
    expect(issues[0]?.line).toBe(2)
  })
})

describe('an import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'homefleet-manifests-'))
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  const text = (m: unknown): string => JSON.stringify(m, null, 2)
  const parent = (): Record<string, any> => {
    const m = v5()
    m.updateId.name = 'Toaster-bundle'
    m.instructions.steps.push({ type: 'reference', updateId: { provider: 'Contoso', name: 'Toaster-fw', version: '1.0' } })
    return m
  }
  const child = (): Record<string, any> => {
    const m = v5()
    m.updateId.name = 'Toaster-fw'
    m.isDeployable = false
    m.compatibility = [{ manufacturer: 'Contoso', model: 'Toaster', component: 'firmware' }]
    return m
  }

  it('imports a parent and its child together', async () => {
    const plan = await planImportTexts([{ file: 'parent.json', text: text(parent()) }, { file: 'child.json', text: text(child()) }], emptyCatalog)
    expect(plan.updates.map((u) => u.key)).toEqual(['Contoso/Toaster-bundle/1.0', 'Contoso/Toaster-fw/1.0'])
    expect(plan.updates[0]?.children).toEqual(['Contoso/Toaster-fw/1.0'])
  })

  it('refuses a parent whose child is not imported with it, and stores nothing', async () => {
    const err = await planImportTexts([{ file: 'parent.json', text: text(parent()) }], emptyCatalog).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FleetError)
    expect((err as FleetError).code).toBe('FLEET_ERR_MANIFEST_INVALID')
    expect((err as FleetError).exitCode).toBe(2)
    expect((err as FleetError).issues[0]).toMatchObject({ file: 'parent.json', path: '$.instructions.steps[1].updateId' })
    expect((err as FleetError).issues[0]?.message).toMatch(/^\[reference imported together\]/)
  })

  it('refuses a child that contains a reference step', async () => {
    const c = child()
    c.instructions.steps.push({ type: 'reference', updateId: { provider: 'Contoso', name: 'Toaster', version: '1.0' } })
    const base = v5()
    const err = await planImportTexts([{ file: 'parent.json', text: text(parent()) }, { file: 'child.json', text: text(c) }, { file: 'base.json', text: text(base) }], emptyCatalog).catch((e: unknown) => e) as FleetError
    expect(err.issues.map((i) => `${i.file} ${i.path} ${i.message.split(']')[0]}]`)).toContain('child.json $.instructions.steps[1] [no reference in a child]')
  })

  it('refuses the same compatibility set under two provider/name pairs, in one import or against the store', async () => {
    const other = v5()
    other.updateId.provider = 'Fabrikam'
    const err = await planImportTexts([{ file: 'a.json', text: text(v5()) }, { file: 'b.json', text: text(other) }], emptyCatalog).catch((e: unknown) => e) as FleetError
    expect(err.issues).toHaveLength(1)
    expect(err.issues[0]).toMatchObject({ file: 'b.json', path: '$.compatibility[0]' })
    expect(err.issues[0]?.message).toMatch(/^\[compatibility unique per provider\/name\].*Contoso\/Toaster/)

    const stored: UpdateCatalog = { manifestText: () => undefined, compatibilityOwner: (k) => (k === 'manufacturer=Contoso,model=Toaster' ? 'Contoso/Toaster' : undefined) }
    const err2 = await planImportTexts([{ file: 'b.json', text: text(other) }], stored).catch((e: unknown) => e) as FleetError
    expect(err2.issues[0]?.message).toMatch(/already used by Contoso\/Toaster/)
    // The same provider/name may reuse its own set: that is how version 1.1 follows 1.0.
    const next = v5()
    next.updateId.version = '1.1'
    await expect(planImportTexts([{ file: 'c.json', text: text(next) }], stored)).resolves.toBeDefined()
  })

  it('is a no-op for the same manifest again and refuses a different one under the same updateId', async () => {
    const same: UpdateCatalog = { manifestText: (k) => (k === 'Contoso/Toaster/1.0' ? JSON.stringify(v5()) : undefined), compatibilityOwner: () => 'Contoso/Toaster' }
    const plan = await planImportTexts([{ file: 'a.json', text: text(v5()) }], same)
    expect(plan).toEqual({ updates: [], unchanged: ['Contoso/Toaster/1.0'] })
    const changed = v5()
    changed.description = 'changed'
    const err = await planImportTexts([{ file: 'a.json', text: text(changed) }], same).catch((e: unknown) => e) as FleetError
    expect(err.issues[0]?.message).toMatch(/^\[unique updateId\] Contoso\/Toaster\/1.0 is already imported/)
  })

  it('nothing is imported when one file of several has an error', async () => {
    const bad = v5()
    bad.updateId.version = '1'
    bad.compatibility = [{ model: 'Other' }]
    const err = await planImportTexts([{ file: 'good.json', text: text(parent()) }, { file: 'child.json', text: text(child()) }, { file: 'bad.json', text: text(bad) }], emptyCatalog).catch((e: unknown) => e) as FleetError
    expect(err.message).toMatch(/nothing was imported/)
    expect(err.issues.map((i) => i.file)).toEqual(['bad.json'])
  })

  it('uses a real payload next to the manifest and checks its size and hash', async () => {
    const bytes = Buffer.from('real firmware bytes')
    writeFileSync(join(dir, 'firmware.swu'), bytes)
    const m = v5()
    m.files[0] = { filename: 'firmware.swu', sizeInBytes: bytes.length, hashes: { sha256: sha256Base64(bytes) } }
    writeFileSync(join(dir, 'ok.json'), text(m))
    const plan = await planImport([join(dir, 'ok.json')], emptyCatalog)
    expect(plan.updates[0]?.files[0]).toMatchObject({ origin: 'file', servedSha256: sha256Base64(bytes) })

    m.files[0].hashes.sha256 = SHA
    writeFileSync(join(dir, 'wrong.json'), text(m))
    const err = await planImport([join(dir, 'wrong.json')], emptyCatalog).catch((e: unknown) => e) as FleetError
    expect(err.issues[0]).toMatchObject({ path: '$.files[0].hashes.sha256' })
    expect(err.issues[0]?.message).toMatch(/^\[file hash matches\]/)
  })

  it('a missing file is reported by name, with exit 2', async () => {
    const err = await planImport([join(dir, 'nope.json')], emptyCatalog).catch((e: unknown) => e) as FleetError
    expect(err.exitCode).toBe(2)
    expect(err.issues[0]?.message).toMatch(/cannot read: ENOENT/)
  })
})

describe('the sample manifests in docs/examples/updates', () => {
  const dir = new URL('../../docs/examples/updates/', import.meta.url)
  const files = readdirSync(dir).filter((f) => f.endsWith('.importmanifest.json')).map((f) => new URL(f, dir).pathname)

  it('import all together, both manifest versions among them, and a bundle', async () => {
    const plan = await planImport(files, emptyCatalog)
    expect(plan.updates.length).toBe(files.length)
    expect(new Set(plan.updates.map((u) => u.manifest.manifestVersion))).toEqual(new Set(['4.0', '5.0']))
    expect(plan.updates.some((u) => u.children.length === 2)).toBe(true)
  })

  it('declare the sha256 of the payload devices are served (generated bytes of the declared size)', async () => {
    const plan = await planImport(files, emptyCatalog)
    for (const u of plan.updates) {
      for (const f of u.files) {
        expect(f.servedSha256, `${u.key}/${f.filename}`).toBe(f.declaredSha256)
        expect(sha256Base64(generatePayload(payloadSeed(u.key, f.filename), f.sizeInBytes))).toBe(JSON.parse(readFileSync(new URL(`${u.sourceFile}`, 'file://'), 'utf8')).files.find((x: any) => x.filename === f.filename).hashes.sha256)
      }
    }
  })
})
