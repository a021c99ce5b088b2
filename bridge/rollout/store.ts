/**
 * Rollout state in SQLite (better-sqlite3): imported updates and their files, deployments and every device's record
 * in each, in `rollout.db` inside the data directory. Writes are synchronous and grouped in transactions by the
 * engine (one per event it handles), so what the engine has done is on disk before it does the next thing, and a
 * restarted service resumes from exactly there. WAL journal: a reader (`fleet rollout status --data-dir`) never
 * blocks the service.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { FleetError } from '../../core/errors.ts'
import { compatibilityKey, type ImportPlan, type UpdateCatalog } from './manifest-import.ts'
import { checkManifest, updateKey, type ImportManifest } from './manifest.ts'
import type { Deployment, DeviceRecord } from './model.ts'

/** Where rollout state lives when no `--data-dir` is given: `.homefleet` in the current directory. */
export const DEFAULT_DATA_DIR = '.homefleet'
export const DATABASE_FILE = 'rollout.db'

export interface StoredFile {
  readonly filename: string
  readonly sizeInBytes: number
  readonly declaredSha256: string
  readonly servedSha256: string | undefined
  readonly origin: 'file' | 'generated'
}

export interface StoredUpdate {
  readonly key: string
  readonly manifest: ImportManifest
  readonly importedAt: number
  readonly files: readonly StoredFile[]
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS updates (
  key TEXT PRIMARY KEY, provider TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
  manifest TEXT NOT NULL, deployable INTEGER NOT NULL, imported_at INTEGER NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS update_files (
  update_key TEXT NOT NULL REFERENCES updates(key), filename TEXT NOT NULL, size INTEGER NOT NULL,
  declared_sha256 TEXT NOT NULL, served_sha256 TEXT, origin TEXT NOT NULL, content BLOB,
  PRIMARY KEY (update_key, filename)
);
CREATE TABLE IF NOT EXISTS compatibility (
  compat_key TEXT NOT NULL, owner TEXT NOT NULL, update_key TEXT NOT NULL REFERENCES updates(key),
  PRIMARY KEY (compat_key, update_key)
);
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY, group_id TEXT NOT NULL, update_key TEXT NOT NULL, state TEXT NOT NULL,
  created_at INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_records (
  deployment_id TEXT NOT NULL REFERENCES deployments(id), device_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
CREATE INDEX IF NOT EXISTS device_records_state ON device_records (deployment_id, state);
`

export class RolloutStore implements UpdateCatalog {
  readonly path: string
  /** Engine writes so far (for benchmarks): transactions, deployment rows and device-record rows written. */
  readonly writes = { transactions: 0, deployments: 0, records: 0 }
  private readonly db: Database.Database
  private readonly stmts

  private constructor (path: string, db: Database.Database) {
    this.path = path
    this.db = db
    db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a power cut may lose the last transactions but never corrupts; a process crash loses nothing.
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 5000')
    db.exec(SCHEMA)
    this.stmts = {
      manifest: db.prepare<[string], { manifest: string }>('SELECT manifest FROM updates WHERE key = ?'),
      owner: db.prepare<[string], { owner: string }>('SELECT owner FROM compatibility WHERE compat_key = ? LIMIT 1'),
      insertUpdate: db.prepare('INSERT INTO updates (key, provider, name, version, manifest, deployable, imported_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insertFile: db.prepare('INSERT INTO update_files (update_key, filename, size, declared_sha256, served_sha256, origin, content) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertCompat: db.prepare('INSERT OR IGNORE INTO compatibility (compat_key, owner, update_key) VALUES (?, ?, ?)'),
      updates: db.prepare<[], { key: string; manifest: string; imported_at: number }>('SELECT key, manifest, imported_at FROM updates ORDER BY provider, name, version'),
      update: db.prepare<[string], { key: string; manifest: string; imported_at: number }>('SELECT key, manifest, imported_at FROM updates WHERE key = ?'),
      files: db.prepare<[string], { filename: string; size: number; declared_sha256: string; served_sha256: string | null; origin: string }>('SELECT filename, size, declared_sha256, served_sha256, origin FROM update_files WHERE update_key = ? ORDER BY rowid'),
      content: db.prepare<[string, string], { content: Buffer | null }>('SELECT content FROM update_files WHERE update_key = ? AND filename = ?'),
      saveDeployment: db.prepare('INSERT INTO deployments (id, group_id, update_key, state, created_at, body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body'),
      deployments: db.prepare<[], { body: string }>('SELECT body FROM deployments ORDER BY created_at, id'),
      saveRecord: db.prepare('INSERT INTO device_records (deployment_id, device_id, state, body) VALUES (?, ?, ?, ?) ON CONFLICT(deployment_id, device_id) DO UPDATE SET state = excluded.state, body = excluded.body'),
      records: db.prepare<[string], { body: string }>('SELECT body FROM device_records WHERE deployment_id = ?')
    }
  }

  /** Open (creating if needed) the store in `dataDir`. FLEET_ERR_ROLLOUT_STORE when the directory or file is unusable. */
  static open (dataDir: string = DEFAULT_DATA_DIR): RolloutStore {
    const dir = resolve(dataDir)
    const path = dataDir === ':memory:' ? ':memory:' : join(dir, DATABASE_FILE)
    try {
      if (path !== ':memory:') mkdirSync(dir, { recursive: true })
      return new RolloutStore(path, new Database(path))
    } catch (err) {
      throw new FleetError('FLEET_ERR_ROLLOUT_STORE', `cannot open the rollout database ${path}: ${(err as Error).message}`, { cause: err })
    }
  }

  // ---- the update catalog ----

  manifestText (key: string): string | undefined {
    return this.stmts.manifest.get(key)?.manifest
  }

  compatibilityOwner (compatKey: string): string | undefined {
    return this.stmts.owner.get(compatKey)?.owner
  }

  /** Store every update of a checked import plan, in one transaction. */
  saveImport (plan: ImportPlan, now: number): void {
    this.db.transaction(() => {
      for (const u of plan.updates) {
        const { provider, name, version } = u.manifest.updateId
        this.stmts.insertUpdate.run(u.key, provider, name, version, u.manifestText, u.manifest.isDeployable ? 1 : 0, now, u.sourceFile)
        for (const f of u.files) this.stmts.insertFile.run(u.key, f.filename, f.sizeInBytes, f.declaredSha256, f.servedSha256 ?? null, f.origin, f.content ?? null)
        for (const info of u.manifest.compatibility) this.stmts.insertCompat.run(compatibilityKey(info), `${provider}/${name}`, u.key)
      }
    })()
  }

  listUpdates (): StoredUpdate[] {
    return this.stmts.updates.all().map((row) => this.toUpdate(row))
  }

  getUpdate (key: string): StoredUpdate | undefined {
    const row = this.stmts.update.get(key)
    return row === undefined ? undefined : this.toUpdate(row)
  }

  /** The real bytes of a file imported from disk; `undefined` for a generated payload. */
  fileContent (key: string, filename: string): Buffer | undefined {
    return this.stmts.content.get(key, filename)?.content ?? undefined
  }

  private toUpdate (row: { key: string; manifest: string; imported_at: number }): StoredUpdate {
    const { manifest } = checkManifest(JSON.parse(row.manifest))
    if (manifest === undefined) throw new FleetError('FLEET_ERR_ROLLOUT_STORE', `stored manifest of ${row.key} no longer checks`)
    const files = this.stmts.files.all(row.key).map((f): StoredFile => ({
      filename: f.filename, sizeInBytes: f.size, declaredSha256: f.declared_sha256, servedSha256: f.served_sha256 ?? undefined, origin: f.origin === 'file' ? 'file' : 'generated'
    }))
    return { key: updateKey(manifest.updateId), manifest, importedAt: row.imported_at, files }
  }

  // ---- deployments ----

  /** Run `fn` in one transaction: all of its writes land, or none. */
  transaction (fn: () => void): void {
    this.writes.transactions++
    this.db.transaction(fn)()
  }

  saveDeployment (d: Deployment): void {
    this.writes.deployments++
    this.stmts.saveDeployment.run(d.spec.id, d.spec.groupId, d.spec.update, d.state, d.createdAt, JSON.stringify(d))
  }

  saveRecord (r: DeviceRecord): void {
    this.writes.records++
    this.stmts.saveRecord.run(r.deploymentId, r.deviceId, r.state, JSON.stringify(r))
  }

  loadDeployments (): Deployment[] {
    return this.stmts.deployments.all().map((row) => JSON.parse(row.body) as Deployment)
  }

  loadRecords (deploymentId: string): DeviceRecord[] {
    return this.stmts.records.all(deploymentId).map((row) => JSON.parse(row.body) as DeviceRecord)
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}
