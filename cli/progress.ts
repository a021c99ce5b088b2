/**
 * Live progress of `fleet run` on stderr, from the runner's {@link ProgressEvent}s.
 *
 * On a terminal: one status line rewritten in place (`\r` + erase line) with elapsed/duration, devices online and
 * messages, and a permanent line per step and expectation printed above it. Elsewhere (CI logs, pipes): plain lines
 * only, never a carriage return, with a tick line at each tenth of the scenario's duration.
 */
import { formatStepLine, type ProgressEvent } from '../scenarios/index.ts'
import type { OutStream } from './io.ts'
import { formatDuration } from '../core/duration.ts'

export interface ProgressViewOptions {
  /** Rewrite a status line in place. Default: `out.isTTY`. */
  tty?: boolean
  color?: boolean
  /** Redraws of the status line at most this often. Default 100 ms. */
  redrawMs?: number
  now?: () => number
}

const ERASE_LINE = '\r\u001b[2K'
const GREEN = '\u001b[32m'
const RED = '\u001b[31m'
const YELLOW = '\u001b[33m'
const RESET = '\u001b[0m'

/** `mm:ss.mmm` from the scenario's start (hours when needed). */
export function formatOffset (ms: number): string {
  const total = Math.max(0, Math.round(ms))
  const h = Math.floor(total / 3_600_000)
  const m = Math.floor((total % 3_600_000) / 60_000)
  const s = Math.floor((total % 60_000) / 1000)
  const frac = total % 1000
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(frac).padStart(3, '0')}`
  return h > 0 ? `${h}:${mmss}` : mmss
}

export class ProgressView {
  private readonly out: OutStream
  private readonly tty: boolean
  private readonly color: boolean
  private readonly redrawMs: number
  private readonly now: () => number
  private status = ''
  private lastDraw = -Infinity
  private online = 0
  private total: number | undefined
  private elapsedMs = 0
  private durationMs: number | undefined
  private messages = 0
  private lastDecile = 0
  private closed = false

  constructor (out: OutStream, options: ProgressViewOptions = {}) {
    this.out = out
    this.tty = options.tty ?? out.isTTY === true
    this.color = options.color ?? false
    this.redrawMs = options.redrawMs ?? 100
    this.now = options.now ?? Date.now
  }

  handle (e: ProgressEvent): void {
    if (this.closed) return
    switch (e.type) {
      case 'broker':
        this.line(`broker: ${e.embedded ? `embedded${e.url === undefined ? ' (in-process)' : `, ${e.url}`}` : (e.url ?? 'external')}`)
        break
      case 'connecting':
        this.online = e.online
        this.total = e.total
        this.draw(false)
        break
      case 'online':
        this.online = e.devices
        this.total = e.devices
        this.line(`online: ${e.devices} device(s) connected in ${formatDuration(e.ms)}`)
        break
      case 'step': {
        // The report's own step line (scenarios/report.ts), so the live line and the final report read the same.
        const text = formatStepLine({ status: e.status, atMs: e.atMs, line: e.line, description: e.description, detail: e.detail })
        this.line(this.colorMark(text, e.status))
        break
      }
      case 'expectation':
        this.line(`${this.colorMark(e.status === 'passed' ? '✓' : e.status === 'failed' ? '✗' : '?', e.status)} at the end: ${e.description}${e.detail === '' ? '' : ` — ${e.detail}`}`)
        break
      case 'broker-lost':
        this.line(`broker lost: ${e.url}; reconnecting for up to ${formatDuration(e.graceMs)} before giving up`)
        break
      case 'broker-back':
        this.line(`broker back: ${e.url} after ${formatDuration(e.downMs)}`)
        break
      case 'tick': {
        this.elapsedMs = e.elapsedMs
        this.durationMs = e.durationMs
        this.messages = e.messages
        if (e.online !== undefined) this.online = e.online
        if (this.tty) { this.draw(false); break }
        // Plain output: one line per tenth of the duration, so a CI log shows progress without flooding.
        const decile = e.durationMs > 0 ? Math.min(10, Math.floor((e.elapsedMs / e.durationMs) * 10)) : 10
        if (decile > this.lastDecile) {
          this.lastDecile = decile
          this.line(`[${formatOffset(e.elapsedMs)}] ${decile * 10}%: ${this.counts()}`)
        }
        break
      }
    }
  }

  /** Erase the status line; further events are ignored. */
  close (): void {
    if (this.closed) return
    this.closed = true
    if (this.tty && this.status !== '') this.out.write(ERASE_LINE)
    this.status = ''
  }

  private counts (): string {
    const devices = this.total === undefined ? `${this.online}` : `${this.online}/${this.total}`
    return `${devices} devices online, ${this.messages} messages`
  }

  /** Colour the first character (the ✓ or ✗ mark) when colours are on. */
  private colorMark (text: string, status: 'passed' | 'failed' | 'inconclusive' | 'done'): string {
    if (!this.color || status === 'done' || text === '') return text
    return `${status === 'passed' ? GREEN : status === 'failed' ? RED : YELLOW}${text.slice(0, 1)}${RESET}${text.slice(1)}`
  }

  /** A permanent line; on a terminal it goes above the status line, which is then redrawn. */
  private line (text: string): void {
    if (!this.tty) { this.out.write(`${text}\n`); return }
    this.out.write(`${ERASE_LINE}${text}\n`)
    this.draw(true)
  }

  private draw (force: boolean): void {
    if (!this.tty) return
    const t = this.now()
    if (!force && t - this.lastDraw < this.redrawMs) return
    this.lastDraw = t
    const time = this.durationMs === undefined ? '' : `${formatOffset(this.elapsedMs)} / ${formatOffset(this.durationMs)}  `
    let text = `${time}${this.counts()}`
    const width = this.out.columns
    if (width !== undefined && width > 1 && text.length >= width) text = text.slice(0, width - 2) + '…'
    this.status = text
    this.out.write(`${ERASE_LINE}${text}`)
  }
}
