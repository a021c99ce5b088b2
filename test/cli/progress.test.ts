import { describe, expect, it } from 'vitest'
import { formatOffset, ProgressView } from '../../cli/progress.ts'

function sink (columns?: number): { text: string; write: (s: string) => boolean; isTTY: boolean; columns: number | undefined } {
  const s = { text: '', isTTY: false, columns, write (chunk: string) { s.text += chunk; return true } }
  return s
}

const events = [
  { type: 'broker', url: 'mqtt://127.0.0.1:5000', embedded: true },
  { type: 'connecting', online: 0, total: 3 },
  { type: 'connecting', online: 3, total: 3 },
  { type: 'online', devices: 3, ms: 420 },
  { type: 'step', index: 0, line: 12, atMs: 1000, status: 'passed', description: 'setVolume → kitchen speaker', detail: 'ok' },
  { type: 'tick', elapsedMs: 1000, durationMs: 10_000, messages: 40 },
  { type: 'tick', elapsedMs: 2000, durationMs: 10_000, messages: 80 },
  { type: 'step', index: 1, line: undefined, atMs: 2000, status: 'failed', description: 'check', detail: 'volume 20, not 30' },
  { type: 'tick', elapsedMs: 2500, durationMs: 10_000, messages: 90 },
  { type: 'expectation', description: 'every camera online', status: 'passed', detail: 'all 1 cameras online' }
] as const

describe('ProgressView', () => {
  it('writes plain lines without carriage returns when not a terminal, a tick line per tenth', () => {
    const out = sink()
    const view = new ProgressView(out, { tty: false })
    for (const e of events) view.handle(e)
    view.close()
    expect(out.text).not.toContain('\r')
    expect(out.text).not.toContain('\u001b')
    expect(out.text.split('\n')).toEqual([
      'broker: embedded, mqtt://127.0.0.1:5000',
      'online: 3 device(s) connected in 420ms',
      '✓     1s  line 12  setVolume → kitchen speaker — ok',
      '[00:01.000] 10%: 3/3 devices online, 40 messages',
      '[00:02.000] 20%: 3/3 devices online, 80 messages',
      '✗     2s  check — volume 20, not 30',
      '✓ at the end: every camera online — all 1 cameras online',
      ''
    ])
  })

  it('on a terminal keeps one status line, rewritten in place, under the permanent lines', () => {
    const out = sink(60)
    let now = 0
    const view = new ProgressView(out, { tty: true, color: true, now: () => (now += 1000) })
    for (const e of events) view.handle(e)
    view.close()
    const screen = render(out.text)
    expect(screen).toEqual([
      'broker: embedded, mqtt://127.0.0.1:5000',
      'online: 3 device(s) connected in 420ms',
      '✓     1s  line 12  setVolume → kitchen speaker — ok',
      '✗     2s  check — volume 20, not 30',
      '✓ at the end: every camera online — all 1 cameras online',
      '' // the status line was erased at close
    ])
    expect(out.text).toContain('\r\u001b[2K00:02.500 / 00:10.000  3/3 devices online, 90 messages')
    expect(out.text).toContain('\u001b[31m✗\u001b[0m')
  })

  it('throttles status redraws and truncates to the terminal width', () => {
    const out = sink(20)
    const view = new ProgressView(out, { tty: true, now: () => 0 })
    for (let i = 0; i <= 1000; i++) view.handle({ type: 'connecting', online: i, total: 1000 })
    expect(out.text.split('\r').length).toBeLessThan(5)
    expect(out.text).toContain('\r\u001b[2K0/1000 devices onl…') // 19 columns: the last one stays free so the cursor does not wrap
  })

  it('formats offsets', () => {
    expect(formatOffset(0)).toBe('00:00.000')
    expect(formatOffset(61_234)).toBe('01:01.234')
    expect(formatOffset(3_723_004)).toBe('1:02:03.004')
  })
})

/** What a terminal would show: apply `\r` + erase-line, and drop colours. */
function render (text: string): string[] {
  const lines: string[] = ['']
  // eslint-disable-next-line no-control-regex
  for (const part of text.replace(/\u001b\[\d+(;\d+)*m/g, '').split(/(\r\u001b\[2K|\n)/)) {
    if (part === '\r\u001b[2K') lines[lines.length - 1] = ''
    else if (part === '\n') lines.push('')
    else lines[lines.length - 1] += part
  }
  return lines
}
