/**
 * Azure Device Update (ADU) import manifests, versions 4.0 and 5.0, checked rule by rule as the published JSON
 * schemas define them (SchemaStore `azure-deviceupdate-import-manifest-4.0.json` / `-5.0.json` and the shared
 * `azure-deviceupdate-manifest-definitions-5.0.json`), plus the checks ADU's import service makes beyond the schema:
 * a step's files must name entries of the top-level `files`, `sha256` must really be base64 of a 32-byte digest,
 * the version has two to four parts of at most 2147483647, and the files add up to at most 2 GB.
 *
 * Every problem is reported (not just the first), each naming the JSON path (`$.instructions.steps[0].handler`) and
 * the rule it breaks (`[pattern]`, `[maxLength 64]`…); {@link checkManifestText} adds the file and line.
 * A manifest written for ADU imports unchanged: nothing here is stricter than ADU itself.
 */
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml'
import type { Issue } from '../../core/errors.ts'

/** ADU's update identity: `provider/name/version`. */
export interface UpdateId {
  readonly provider: string
  readonly name: string
  readonly version: string
}

/** One set of device properties an update is compatible with, such as `{manufacturer, model}`. */
export type CompatibilityInfo = Readonly<Record<string, string>>

/** A step that runs a handler on the device with some of the update's files. */
export interface InlineStep {
  readonly type: 'inline'
  readonly description?: string
  /** `{provider}/{handler}:{version}`, e.g. `microsoft/swupdate:1`. */
  readonly handler: string
  readonly files: readonly string[]
  readonly handlerProperties?: Readonly<Record<string, unknown>>
}

/** A step that installs another (child) update: how ADU bundles a parent with its component updates. */
export interface ReferenceStep {
  readonly type: 'reference'
  readonly description?: string
  readonly updateId: UpdateId
}

export type Step = InlineStep | ReferenceStep

export interface ManifestFile {
  readonly filename: string
  readonly sizeInBytes: number
  /** Base64 digests by algorithm name; `sha256` always present. */
  readonly hashes: Readonly<Record<string, string>> & { readonly sha256: string }
  /** 5.0 only: free properties passed through to the device. */
  readonly properties?: Readonly<Record<string, unknown>>
  /** 5.0 only: files a download handler (such as a delta handler) uses to produce this one. */
  readonly relatedFiles?: readonly unknown[]
  readonly downloadHandler?: { readonly id: string }
}

export const MANIFEST_VERSIONS = ['4.0', '5.0'] as const
export type ManifestVersion = typeof MANIFEST_VERSIONS[number]

/** A checked import manifest. `isDeployable` defaults to true, as in ADU. */
export interface ImportManifest {
  readonly manifestVersion: ManifestVersion
  readonly updateId: UpdateId
  readonly description?: string
  readonly isDeployable: boolean
  readonly compatibility: readonly CompatibilityInfo[]
  readonly instructions: { readonly steps: readonly Step[] }
  readonly files: readonly ManifestFile[]
  readonly createdDateTime: string
}

/** `provider/name/version`: how updates are keyed in the store, on topics and on the command line. */
export function updateKey (id: UpdateId): string {
  return `${id.provider}/${id.name}/${id.version}`
}

/** Parse `provider/name/version` back; `undefined` when it is not three non-empty parts. */
export function parseUpdateKey (key: string): UpdateId | undefined {
  const parts = key.split('/')
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined
  const [provider, name, version] = parts as [string, string, string]
  return { provider, name, version }
}

/** 2 GB: the most all files of one update may add up to (ADU's limit). */
export const MAX_TOTAL_FILE_BYTES = 2 * 1024 * 1024 * 1024

const ID_PART_RE = /^[a-zA-Z0-9.-]+$/
const VERSION_RE = /^\d+(?:\.\d+)+$/
const HANDLER_RE = /^\S+\/\S+:\d{1,5}$/
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/
// ISO 8601 date and time, as ADU writes it (`2022-01-19T06:23:52.6996916Z`); an offset instead of Z is fine too.
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/
const MAX_VERSION_PART = 2147483647

type Path = readonly (string | number)[]

/** `$.instructions.steps[0].files[1]` */
export function jsonPath (path: Path): string {
  let out = '$'
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`
  return out
}

interface Finding { path: Path; rule: string; message: string }

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Collects findings while walking one manifest. */
class Checker {
  readonly findings: Finding[] = []

  add (path: Path, rule: string, message: string): void { this.findings.push({ path, rule, message }) }

  object (v: unknown, path: Path, what: string): v is Record<string, unknown> {
    if (isObject(v)) return true
    this.add(path, 'type object', `${what} must be a JSON object, got ${describe(v)}`)
    return false
  }

  /** Required keys present; keys not in `allowed` refused (`additionalProperties: false`). */
  keys (obj: Record<string, unknown>, path: Path, required: readonly string[], allowed: readonly string[] | undefined): void {
    for (const key of required) if (!Object.hasOwn(obj, key)) this.add([...path, key], 'required', `"${key}" is required`)
    if (allowed === undefined) return
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) this.add([...path, key], 'additionalProperties', `"${key}" is not allowed here (allowed: ${allowed.join(', ')})`)
    }
  }

  string (v: unknown, path: Path, limits: { min?: number; max?: number; pattern?: RegExp } = {}): v is string {
    if (typeof v !== 'string') { this.add(path, 'type string', `must be a string, got ${describe(v)}`); return false }
    let ok = true
    if (limits.min !== undefined && v.length < limits.min) { this.add(path, `minLength ${limits.min}`, `must be at least ${limits.min} character${limits.min === 1 ? '' : 's'} long`); ok = false }
    if (limits.max !== undefined && v.length > limits.max) { this.add(path, `maxLength ${limits.max}`, `must be at most ${limits.max} characters long, is ${v.length}`); ok = false }
    if (ok && limits.pattern !== undefined && !limits.pattern.test(v)) {
      // As the schema writes it: RegExp#source escapes the slash.
      const source = limits.pattern.source.replaceAll('\\/', '/')
      this.add(path, `pattern ${source}`, `${JSON.stringify(v)} does not match ${source}`); ok = false
    }
    return ok
  }

  array (v: unknown, path: Path, min: number, max: number): v is unknown[] {
    if (!Array.isArray(v)) { this.add(path, 'type array', `must be an array, got ${describe(v)}`); return false }
    if (v.length < min) { this.add(path, `minItems ${min}`, `must have at least ${min} item${min === 1 ? '' : 's'}, has ${v.length}`); return false }
    if (v.length > max) { this.add(path, `maxItems ${max}`, `must have at most ${max} items, has ${v.length}`); return false }
    return true
  }
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v) ?? ''}`
}

function checkUpdateId (c: Checker, v: unknown, path: Path): void {
  if (!c.object(v, path, 'updateId')) return
  c.keys(v, path, ['provider', 'name', 'version'], ['provider', 'name', 'version'])
  if (Object.hasOwn(v, 'provider')) c.string(v.provider, [...path, 'provider'], { min: 1, max: 64, pattern: ID_PART_RE })
  if (Object.hasOwn(v, 'name')) c.string(v.name, [...path, 'name'], { min: 1, max: 64, pattern: ID_PART_RE })
  if (Object.hasOwn(v, 'version') && c.string(v.version, [...path, 'version'], { pattern: VERSION_RE })) {
    // The schema's description: "two to four part dot separated numerical version numbers. Each part must be a
    // number between 0 and 2147483647". The pattern alone accepts more; ADU's import refuses it.
    const parts = v.version.split('.')
    if (parts.length > 4) c.add([...path, 'version'], 'version parts 2-4', `has ${parts.length} parts; ADU versions have two to four`)
    else if (parts.some((p) => Number(p) > MAX_VERSION_PART)) c.add([...path, 'version'], 'version part <= 2147483647', `a part of ${JSON.stringify(v.version)} is larger than 2147483647`)
  }
}

function checkCompatibility (c: Checker, v: unknown): void {
  const path = ['compatibility']
  if (!c.array(v, path, 1, 10)) return
  v.forEach((info, i) => {
    const p = [...path, i]
    if (!c.object(info, p, 'a compatibility entry')) return
    const names = Object.keys(info)
    if (names.length < 1) c.add(p, 'minProperties 1', 'must have at least one property (such as manufacturer and model)')
    if (names.length > 5) c.add(p, 'maxProperties 5', `must have at most 5 properties, has ${names.length}`)
    for (const name of names) {
      if (name.length > 32) c.add([...p, name], 'propertyNames maxLength 32', `property name is ${name.length} characters long; at most 32`)
      c.string(info[name], [...p, name], { min: 1, max: 64 })
    }
  })
}

function checkSteps (c: Checker, v: unknown, fileNames: ReadonlySet<string> | undefined): void {
  const path = ['instructions']
  if (!c.object(v, path, 'instructions')) return
  c.keys(v, path, ['steps'], ['steps'])
  if (!Object.hasOwn(v, 'steps')) return
  const stepsPath = [...path, 'steps']
  if (!c.array(v.steps, stepsPath, 1, 10)) return
  v.steps.forEach((step, i) => {
    const p = [...stepsPath, i]
    if (!c.object(step, p, 'a step')) return
    if (Object.hasOwn(step, 'description')) c.string(step.description, [...p, 'description'], { min: 1, max: 64 })
    if (step.type === 'reference') {
      c.keys(step, p, ['type', 'updateId'], ['type', 'description', 'updateId'])
      if (Object.hasOwn(step, 'updateId')) checkUpdateId(c, step.updateId, [...p, 'updateId'])
      return
    }
    if (Object.hasOwn(step, 'type') && step.type !== 'inline') {
      c.add([...p, 'type'], 'enum inline|reference', `step type must be "inline" or "reference", got ${describe(step.type)}`)
      return
    }
    c.keys(step, p, ['handler', 'files'], ['type', 'description', 'handler', 'files', 'handlerProperties'])
    if (Object.hasOwn(step, 'handler')) c.string(step.handler, [...p, 'handler'], { min: 5, max: 32, pattern: HANDLER_RE })
    if (Object.hasOwn(step, 'handlerProperties') && !isObject(step.handlerProperties)) {
      c.add([...p, 'handlerProperties'], 'type object', `must be a JSON object, got ${describe(step.handlerProperties)}`)
    }
    if (Object.hasOwn(step, 'files') && c.array(step.files, [...p, 'files'], 1, 10)) {
      step.files.forEach((name, j) => {
        if (!c.string(name, [...p, 'files', j], { min: 1, max: 255 })) return
        if (fileNames !== undefined && !fileNames.has(name)) {
          c.add([...p, 'files', j], 'step file in files', `"${name}" is not one of the update's files${fileNames.size === 0 ? ' (it has none)' : ` (${[...fileNames].join(', ')})`}`)
        }
      })
    }
  })
}

function checkSha256 (c: Checker, v: unknown, path: Path): void {
  if (!c.string(v, path)) return
  // The schema only says "string"; a digest that is not base64 of 32 bytes could never match a file.
  if (v.length % 4 !== 0 || !BASE64_RE.test(v) || Buffer.from(v, 'base64').length !== 32) {
    c.add(path, 'sha256 base64 of 32 bytes', `${JSON.stringify(v)} is not the base64 encoding of a 32-byte SHA-256 digest`)
  }
}

function checkFile (c: Checker, v: unknown, path: Path, version: ManifestVersion, base: boolean): string | undefined {
  if (!c.object(v, path, 'a file')) return undefined
  const baseKeys = ['filename', 'sizeInBytes', 'hashes']
  // 4.0 allows nothing else; 5.0 adds pass-through properties and, on top-level files, delta download metadata.
  const allowed = version === '4.0' ? baseKeys : base ? [...baseKeys, 'properties'] : [...baseKeys, 'properties', 'relatedFiles', 'downloadHandler']
  c.keys(v, path, baseKeys, allowed)
  let name: string | undefined
  if (Object.hasOwn(v, 'filename') && c.string(v.filename, [...path, 'filename'], { min: 1, max: 255 })) name = v.filename
  if (Object.hasOwn(v, 'sizeInBytes')) {
    const size = v.sizeInBytes
    if (typeof size !== 'number' || !Number.isFinite(size)) c.add([...path, 'sizeInBytes'], 'type number', `must be a number, got ${describe(size)}`)
    else if (!Number.isInteger(size)) c.add([...path, 'sizeInBytes'], 'integer', `a size in bytes is a whole number, got ${size}`)
    else if (size < 1) c.add([...path, 'sizeInBytes'], 'minimum 1', `must be at least 1, got ${size}`)
    else if (version === '4.0' && size > 2147483648) c.add([...path, 'sizeInBytes'], 'maximum 2147483648', `must be at most 2147483648, got ${size}`)
  }
  if (Object.hasOwn(v, 'hashes') && c.object(v.hashes, [...path, 'hashes'], 'hashes')) {
    const hashes = v.hashes
    c.keys(hashes, [...path, 'hashes'], ['sha256'], undefined)
    if (Object.hasOwn(hashes, 'sha256')) checkSha256(c, hashes.sha256, [...path, 'hashes', 'sha256'])
    const names = Object.keys(hashes)
    if (version === '5.0' && names.length > 2) c.add([...path, 'hashes'], 'maxProperties 2', `at most two hashes (sha256 and one more), has ${names.length}`)
    for (const alg of names) {
      if (alg === 'sha256') continue
      if (version === '5.0' && alg.length > 10) c.add([...path, 'hashes', alg], 'propertyNames maxLength 10', `hash algorithm name "${alg}" is longer than 10 characters`)
      c.string(hashes[alg], [...path, 'hashes', alg])
    }
  }
  if (Object.hasOwn(v, 'properties') && !isObject(v.properties)) c.add([...path, 'properties'], 'type object', `must be a JSON object, got ${describe(v.properties)}`)
  if (Object.hasOwn(v, 'relatedFiles') && c.array(v.relatedFiles, [...path, 'relatedFiles'], 0, 4)) {
    v.relatedFiles.forEach((r, i) => { checkFile(c, r, [...path, 'relatedFiles', i], version, true) })
  }
  if (Object.hasOwn(v, 'downloadHandler') && c.object(v.downloadHandler, [...path, 'downloadHandler'], 'downloadHandler')) {
    c.keys(v.downloadHandler, [...path, 'downloadHandler'], ['id'], undefined)
    if (Object.hasOwn(v.downloadHandler, 'id')) c.string(v.downloadHandler.id, [...path, 'downloadHandler', 'id'], { min: 5, max: 32, pattern: HANDLER_RE })
  }
  return name
}

function checkFiles (c: Checker, v: unknown, version: ManifestVersion): Set<string> | undefined {
  // "May be empty or null if all instruction steps are reference steps."
  if (v === undefined || v === null) return new Set()
  const path = ['files']
  if (!c.array(v, path, 0, 10)) return undefined
  const names = new Set<string>()
  let total = 0
  v.forEach((file, i) => {
    const name = checkFile(c, file, [...path, i], version, false)
    if (name !== undefined) {
      if (names.has(name)) c.add([...path, i, 'filename'], 'unique filename', `"${name}" is listed twice; a file must be unique within an update`)
      names.add(name)
    }
    const size = isObject(file) ? file.sizeInBytes : undefined
    if (typeof size === 'number' && Number.isFinite(size)) total += size
  })
  if (total > MAX_TOTAL_FILE_BYTES) c.add(path, 'total size <= 2 GB', `the files add up to ${total} bytes; at most ${MAX_TOTAL_FILE_BYTES} (2 GB)`)
  return names
}

const TOP_KEYS = ['$schema', 'updateId', 'description', 'isDeployable', 'compatibility', 'instructions', 'files', 'manifestVersion', 'createdDateTime']

/**
 * Check one parsed manifest against the rules of its `manifestVersion`. Returns the typed manifest when there is no
 * finding, and every finding otherwise.
 */
export function checkManifest (value: unknown): { manifest?: ImportManifest; findings: Finding[] } {
  const c = new Checker()
  if (!c.object(value, [], 'an import manifest')) return { findings: c.findings }
  c.keys(value, [], ['updateId', 'compatibility', 'instructions', 'manifestVersion', 'createdDateTime'], TOP_KEYS)
  let version: ManifestVersion = '5.0'
  if (Object.hasOwn(value, 'manifestVersion')) {
    const mv = value.manifestVersion
    if (mv === '4.0' || mv === '5.0') version = mv
    else c.add(['manifestVersion'], 'enum 4.0|5.0', `must be "4.0" or "5.0", got ${describe(mv)}`)
  }
  if (Object.hasOwn(value, '$schema')) c.string(value.$schema, ['$schema'])
  if (Object.hasOwn(value, 'updateId')) checkUpdateId(c, value.updateId, ['updateId'])
  if (Object.hasOwn(value, 'description')) c.string(value.description, ['description'], { min: 1, max: 512 })
  if (Object.hasOwn(value, 'isDeployable') && typeof value.isDeployable !== 'boolean') c.add(['isDeployable'], 'type boolean', `must be true or false, got ${describe(value.isDeployable)}`)
  if (Object.hasOwn(value, 'compatibility')) checkCompatibility(c, value.compatibility)
  const fileNames = checkFiles(c, value.files, version)
  if (Object.hasOwn(value, 'instructions')) checkSteps(c, value.instructions, fileNames)
  if (Object.hasOwn(value, 'createdDateTime') && c.string(value.createdDateTime, ['createdDateTime'])) {
    const t = value.createdDateTime
    if (!DATETIME_RE.test(t) || Number.isNaN(Date.parse(t))) c.add(['createdDateTime'], 'ISO 8601 date-time', `${JSON.stringify(t)} is not an ISO 8601 date and time such as 2022-01-19T06:23:52.6996916Z`)
  }
  if (c.findings.length > 0) return { findings: c.findings }
  const v = value as unknown as Omit<ImportManifest, 'isDeployable' | 'files' | 'instructions'> & { isDeployable?: boolean; files?: ManifestFile[] | null; instructions: { steps: Record<string, unknown>[] } }
  const steps = v.instructions.steps.map((s) => (s.type === 'reference' ? s : { ...s, type: 'inline' }) as unknown as Step)
  const manifest: ImportManifest = {
    ...v,
    isDeployable: v.isDeployable ?? true,
    files: v.files ?? [],
    instructions: { steps }
  }
  return { manifest, findings: [] }
}

/** A manifest read from a file: its text, checked. Issues carry file, line, column, JSON path and rule. */
export interface CheckedManifestFile {
  readonly file: string
  readonly manifest?: ImportManifest
  readonly issues: readonly Issue[]
}

/**
 * Parse and check the text of one manifest file. The text must be JSON (ADU reads nothing else); positions come from
 * a second parse with the `yaml` package, whose JSON-compatible parser keeps the source range of every node.
 */
export function checkManifestText (text: string, file: string): CheckedManifestFile {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { file, issues: [{ file, path: '$', message: `[JSON] not valid JSON: ${(err as Error).message}`, ...jsonErrorPosition(text, err) }] }
  }
  const { manifest, findings } = checkManifest(value)
  if (findings.length === 0 && manifest !== undefined) return { file, manifest, issues: [] }
  const locate = locator(text)
  const issues = findings.map((f): Issue => ({ file, ...locate(f.path), path: jsonPath(f.path), message: `[${f.rule}] ${f.message}` }))
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  return { file, issues }
}

function jsonErrorPosition (text: string, err: unknown): { line?: number; column?: number } {
  const m = /position (\d+)/.exec((err as Error).message)
  if (m === null) return {}
  const lines = new LineCounter()
  parseDocument(text, { lineCounter: lines })
  const p = lines.linePos(Number(m[1]))
  return { line: p.line, column: p.col }
}

function locator (text: string): (path: Path) => { line: number; column: number } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines })
  return (path) => {
    // The node at the path, or the nearest ancestor that exists (a missing key points at its object); for a key
    // that is there but not allowed, the key itself.
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n)
      if (n > 0) {
        const parent: unknown = n === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true)
        const last = prefix[n - 1]
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))
          const range = pair !== undefined && isScalar(pair.key) ? pair.key.range : undefined
          if (range !== undefined && range !== null) { const p = lines.linePos(range[0]); return { line: p.line, column: p.col } }
          continue
        }
      }
      const node: unknown = n === 0 ? doc.contents : doc.getIn(prefix, true)
      const range = (node as { range?: [number, number, number] | null } | null | undefined)?.range
      if (range !== undefined && range !== null) { const p = lines.linePos(range[0]); return { line: p.line, column: p.col } }
    }
    return { line: 1, column: 1 }
  }
}
