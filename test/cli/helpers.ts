/**
 * Test helpers for the CLI: an in-memory {@link CliIo} whose output can be awaited, and a spawned `fleet` process
 * (bin/fleet.js) with the same waiting API. Wait for output, never for time.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { CliIo } from '../../cli/io.ts'

export const FLEET_BIN = fileURLToPath(new URL('../../bin/fleet.js', import.meta.url))
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Accumulated text with a promise-based wait for a pattern. */
export class Capture {
  text = ''
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = []

  append (chunk: string): void {
    this.text += chunk
    this.waiters = this.waiters.filter((w) => {
      const m = this.text.match(w.re)
      if (m !== null) { w.resolve(m); return false }
      return true
    })
  }

  /** Resolves with the first match of `re` in everything written so far, now or later. */
  waitFor (re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const m = this.text.match(re)
    if (m !== null) return Promise.resolve(m)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`timed out waiting for ${String(re)}; got:\n${this.text}`)) }, timeoutMs)
      this.waiters.push({ re, resolve: (x) => { clearTimeout(timer); resolve(x) } })
    })
  }

  get lines (): string[] { return this.text.split('\n').filter((l) => l !== '') }
}

export interface TestIo extends CliIo {
  readonly out: Capture
  readonly err: Capture
  readonly controller: AbortController
}

/** An io for `main(argv, io)`: captured stdout/stderr, no TTY, an AbortController standing in for Ctrl-C. */
export function testIo (options: { env?: Record<string, string>; stdoutTTY?: boolean; stderrTTY?: boolean } = {}): TestIo {
  const out = new Capture()
  const err = new Capture()
  const controller = new AbortController()
  return {
    out,
    err,
    controller,
    stdout: { write: (s: string) => { out.append(s); return true }, isTTY: options.stdoutTTY ?? false },
    stderr: { write: (s: string) => { err.append(s); return true }, isTTY: options.stderrTTY ?? false, columns: 80 },
    env: options.env ?? {},
    signal: controller.signal
  }
}

export interface FleetProcess {
  readonly child: ChildProcess
  readonly out: Capture
  readonly err: Capture
  /** Resolves with the exit code (or 128 + signal number style string when killed). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Spawn `node bin/fleet.js ...args`. The caller must see it exit (kill it in a finally). */
export function spawnFleet (args: readonly string[], env: Record<string, string> = {}): FleetProcess {
  const child = spawn(process.execPath, [FLEET_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', FLEET_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const out = new Capture()
  const err = new Capture()
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out.append(s) })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err.append(s) })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => { resolve({ code, signal }) })
  })
  return { child, out, err, exited }
}

/** Kill a spawned fleet if it is still running, and wait for it. */
export async function reap (p: FleetProcess | undefined): Promise<void> {
  if (p === undefined) return
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await p.exited
}
