/**
 * A load worker: runs one share of a `fleet bench` run's clients on lean MQTT clients, in a worker thread (or in the
 * calling thread), and reports cumulative totals once a second and at the end. Every loop here is bounded: sending
 * stops at `sendUntil` or the message limit, and the worker ends `drainMs` after that whatever the broker does.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads'
import { LatencyHistogram } from './histogram.ts'
import { encodeConnect, encodePublish, encodeSubscribe, LeanClient } from './lean-client.ts'
import type { WorkerMessage, WorkerPlan, WorkerTotals } from './protocol.ts'

/** Payload header: sequence number, publisher index, send time (ms on the monotonic clock, sub-millisecond). */
const HEADER = 16
/**
 * The monotonic clock (CLOCK_MONOTONIC) is one clock for every thread of the machine, so a publisher in one worker
 * and a subscriber in another read the same time; `performance.timeOrigin` differs from worker to worker.
 */
const now = (): number => { const [s, ns] = process.hrtime(); return s * 1000 + ns / 1e6 }

/** `%i` is the client index, `%c` the client id (emqtt-bench's placeholders). */
export function expandTopic (template: string, index: number, clientId: string): string {
  return template.replace(/%i/g, String(index)).replace(/%c/g, clientId)
}

interface Publisher {
  client: LeanClient
  index: number
  topic: string
  ready: boolean
  blocked: boolean
  seq: number
  nextId: number
  unacked: number
}

interface SubscriberState {
  /** Highest sequence number seen per publisher index. */
  highest: Map<number, number>
}

/** How the coordinator ends the sending phase of every worker once the workers that publish are done. */
export interface WorkerControl {
  onStopSending (listener: () => void): void
  /** Resolves when every worker is ready (connected and subscribed), so no message is sent before all subscribe. */
  go (): Promise<void>
}

export async function runWorker (plan: WorkerPlan, report: (m: WorkerMessage) => void, control: WorkerControl): Promise<void> {
  const latency = new LatencyHistogram()
  const connectLatency = new LatencyHistogram()
  const totals: Omit<WorkerTotals, 'latency' | 'connectLatency'> = {
    connected: 0, connectFailures: 0, sentTotal: 0, sent: 0, received: 0, receivedInWindow: 0, windowMs: 0, receivedTotal: 0, duplicates: 0, reordered: 0, acked: 0, errors: {}, firstConnectAt: 0, lastConnackAt: 0
  }
  // Without a warm-up everything counts from the first subscription on (in sub mode, other publishers may already be
  // sending), so nothing is ever reset.
  let measuring = plan.warmupMs === 0
  // The measured window: from the end of the warm-up until sending stops (time up, or every publisher's limit reached).
  // Rates count what arrives within it; what arrives after (the drain) counts for loss and latency only.
  let inWindow = false
  let windowStart = 0
  // Set once this worker's clients are connected; until then nothing is sent.
  let sendUntil = Number.POSITIVE_INFINITY
  const error = (reason: string): void => { totals.errors[reason] = (totals.errors[reason] ?? 0) + 1 }
  const snapshot = (): WorkerTotals => ({
    ...totals,
    errors: { ...totals.errors },
    latency: { counts: latency.counts.slice(), min: latency.min, max: latency.max },
    connectLatency: { counts: connectLatency.counts.slice(), min: connectLatency.min, max: connectLatency.max }
  })

  const clients: LeanClient[] = []
  const publishers: Publisher[] = []
  const payload = Buffer.alloc(Math.max(plan.size, HEADER), 0x61)
  let stopped = false
  let outstandingReceived = 0 // received by this worker's subscribers, for the closed loop

  // Connects in progress (no CONNACK or close yet), and who waits for one to finish under plan.maxConnecting.
  let connecting = 0
  let slotFreed: (() => void) | undefined
  const connectSlot = (): Promise<void> | undefined => {
    if (plan.maxConnecting === 0 || connecting < plan.maxConnecting) return undefined
    return new Promise<void>((resolve) => { slotFreed = resolve })
  }
  const connectDone = (): void => {
    connecting--
    const wake = slotFreed
    slotFreed = undefined
    wake?.()
  }

  function open (index: number, onConnack: (ok: boolean) => void, onPublish?: (topic: string, payload: Buffer) => void, onSuback?: () => void): LeanClient {
    const clientId = `${plan.clientIdPrefix}-${index}`
    const started = now()
    if (totals.firstConnectAt === 0) totals.firstConnectAt = Date.now()
    let connected = false
    let refused = false
    let pending = true
    connecting++
    const settled = (): void => { if (pending) { pending = false; connectDone() } }
    const client: LeanClient = new LeanClient(plan.host, plan.port, {
      connack (code) {
        settled()
        if (code !== 0) { refused = true; totals.connectFailures++; error(`connack ${code}`); onConnack(false); return }
        connected = true
        totals.connected++
        totals.lastConnackAt = Date.now()
        connectLatency.record((now() - started) * 1000)
        onConnack(true)
      },
      suback (granted) { if (granted.includes(0x80)) error('subscription refused'); onSuback?.() },
      publish (_topic, body) { onPublish?.(_topic, body) },
      puback () { onPuback(client) },
      error (reason) { error(reason) },
      close () {
        settled()
        if (connected) { totals.connected--; connected = false; if (!stopped) error('connection closed by broker') } else if (!stopped && !refused) { totals.connectFailures++; error('connection closed before CONNACK') }
      }
    })
    client.socket.once('connect', () => { client.write(encodeConnect(clientId, plan.username, plan.password)) })
    clients.push(client)
    return client
  }

  const byClient = new Map<LeanClient, Publisher>()
  function onPuback (client: LeanClient): void {
    const p = byClient.get(client)
    if (p === undefined) return
    p.unacked--
    totals.acked++
    if (p.blocked && p.unacked < plan.inflight) { p.blocked = false; pump() }
  }

  // ---- subscribers ------------------------------------------------------------------------------------------------
  const subscribed: Array<Promise<void>> = []
  for (let i = plan.subStart; i < plan.subEnd; i++) {
    const index = i + plan.startIndex
    await connectSlot()
    const state: SubscriberState = { highest: new Map() }
    subscribed.push(new Promise<void>((resolve) => {
      const c = open(index, (ok) => {
        if (!ok) { resolve(); return }
        c.write(encodeSubscribe(1, expandTopic(plan.subTopic, index, `${plan.clientIdPrefix}-${index}`), plan.qos))
      }, (_topic, body) => { onMessage(state, body) }, resolve)
      c.socket.once('close', () => { resolve() })
    }))
    if (plan.connectEveryMs > 0) await sleep(plan.connectEveryMs)
  }

  function onMessage (state: SubscriberState, body: Buffer): void {
    totals.receivedTotal++
    outstandingReceived++
    if (inWindow) totals.receivedInWindow++
    if (body.length < HEADER) { if (measuring) totals.received++; return }
    const seq = body.readUInt32BE(0)
    const from = body.readUInt32BE(4)
    const highest = state.highest.get(from) ?? 0
    if (seq === highest) totals.duplicates++
    else if (seq < highest) totals.reordered++
    else state.highest.set(from, seq)
    if (!measuring) return
    totals.received++
    latency.record((now() - body.readDoubleBE(8)) * 1000)
    if (plan.maxOutstanding > 0) pump()
  }

  // ---- publishers and connections ---------------------------------------------------------------------------------
  const pubReady: Array<Promise<void>> = []
  for (let i = plan.pubStart; i < plan.pubEnd; i++) {
    const index = i + plan.startIndex
    const clientId = `${plan.clientIdPrefix}-${index}`
    await connectSlot()
    pubReady.push(new Promise<void>((resolve) => {
      const c = open(index, (ok) => {
        if (ok && plan.mode !== 'conn') {
          const p: Publisher = { client: c, index, topic: expandTopic(plan.topic, index, clientId), ready: true, blocked: false, seq: 0, nextId: 1, unacked: 0 }
          publishers.push(p)
          byClient.set(c, p)
          c.socket.on('drain', () => { if (p.blocked && p.unacked < plan.inflight) { p.blocked = false; pump() } })
        }
        resolve()
      })
      c.socket.once('close', () => { resolve() })
    }))
    if (plan.connectEveryMs > 0) await sleep(plan.connectEveryMs)
  }

  const ticker = setInterval(() => { report({ type: 'tick', totals: snapshot() }) }, 1000)
  let measureTimer: NodeJS.Timeout | undefined

  // ---- sending ------------------------------------------------------------------------------------------------------
  let startedSending = Date.now()
  let rr = 0
  let pumping = false
  function canSend (): boolean {
    // With an interval per publisher, each publisher's own timer sends (sendOnIntervals), never the pump.
    if (plan.intervalMs > 0) return false
    if (stopped || Date.now() >= sendUntil) return false
    if (plan.limit > 0 && totals.sentTotal >= plan.limit) return false
    if (plan.maxOutstanding > 0) {
      const subs = plan.subEnd - plan.subStart
      if (totals.sentTotal * subs - outstandingReceived >= plan.maxOutstanding) return false
    }
    if (plan.rate > 0) {
      const allowed = ((Date.now() - startedSending) / 1000) * plan.rate
      if (totals.sentTotal >= allowed) return false
    }
    return true
  }
  function sendOne (p: Publisher): void {
    p.seq++
    payload.writeUInt32BE(p.seq >>> 0, 0)
    payload.writeUInt32BE(p.index >>> 0, 4)
    payload.writeDoubleBE(now(), 8)
    let id = 0
    if (plan.qos > 0) {
      id = p.nextId
      p.nextId = p.nextId === 65_535 ? 1 : p.nextId + 1
      p.unacked++
    }
    const ok = p.client.write(encodePublish(p.topic, payload, plan.qos, id))
    totals.sentTotal++
    if (measuring) totals.sent++
    if (!ok || (plan.qos > 0 && p.unacked >= plan.inflight)) p.blocked = true
  }
  /** Send round-robin while the budget allows and some publisher's socket takes more; at most 2,000 per turn. */
  function pump (): void {
    if (pumping || publishers.length === 0) return
    pumping = true
    try {
      for (let budget = 2000; budget > 0 && canSend(); budget--) {
        let tried = 0
        while (tried < publishers.length && (publishers[rr % publishers.length] as Publisher).blocked) { rr++; tried++ }
        if (tried === publishers.length) break
        sendOne(publishers[rr % publishers.length] as Publisher)
        rr++
      }
    } finally {
      pumping = false
    }
  }

  /**
   * emqtt-bench's -I: every publisher sends one message per interval on a timer of its own, whatever the others do.
   * Publishers are spread over the interval by global index. A QoS 1 publisher whose --inflight window is full skips
   * that tick and counts it, rather than send in a burst later.
   */
  function sendOnIntervals (): Promise<void> {
    return new Promise((resolve) => {
      const timers: NodeJS.Timeout[] = []
      const step = plan.intervalMs / Math.max(1, plan.publishersTotal)
      const finished = (): boolean => stopSending || stopped || Date.now() >= sendUntil || (plan.limit > 0 && totals.sentTotal >= plan.limit)
      const tick = (p: Publisher): void => {
        if (finished()) return
        if (plan.qos > 0 && p.unacked >= plan.inflight) { error('publish skipped: --inflight window full'); return }
        sendOne(p)
      }
      for (const p of publishers) {
        const offset = ((p.index - plan.startIndex) * step) % plan.intervalMs
        timers.push(setTimeout(() => { tick(p); timers.push(setInterval(tick, plan.intervalMs, p)) }, offset))
      }
      const check = setInterval(() => {
        if (!finished()) return
        clearInterval(check)
        for (const t of timers) clearTimeout(t)
        resolve()
      }, 10)
    })
  }

  await Promise.all([...subscribed, ...pubReady])
  const startMeasuring = (): void => {
    measuring = true
    inWindow = true
    windowStart = Date.now()
    totals.sent = 0
    totals.received = 0
    totals.receivedInWindow = 0
    latency.reset()
  }
  report({ type: 'ready', totals: snapshot() })
  await control.go()
  startedSending = Date.now()
  sendUntil = startedSending + plan.warmupMs + plan.durationMs
  if (plan.warmupMs > 0) measureTimer = setTimeout(startMeasuring, plan.warmupMs)
  else { inWindow = true; windowStart = startedSending }
  // Sending ends at sendUntil, or when the coordinator says every publishing worker is done (limit reached).
  let stopSending = false
  control.onStopSending(() => { stopSending = true })
  if (plan.mode !== 'conn' && plan.pubEnd > plan.pubStart) {
    // A timer drives open-loop sending; the closed loop is also driven by arrivals.
    if (publishers.length > 0 && plan.intervalMs > 0) {
      await sendOnIntervals()
    } else if (publishers.length > 0) {
      await new Promise<void>((resolve) => {
        const loop = setInterval(() => {
          pump()
          if (stopSending || Date.now() >= sendUntil || (plan.limit > 0 && totals.sentTotal >= plan.limit)) { clearInterval(loop); resolve() }
        }, plan.rate > 0 ? 5 : 1)
      })
    }
    report({ type: 'sending-done', totals: snapshot() })
  }
  while (!stopSending && Date.now() < sendUntil) await sleep(Math.min(50, Math.max(1, sendUntil - Date.now())))
  if (inWindow) {
    inWindow = false
    totals.windowMs = Date.now() - windowStart
  }

  // Wait for what is still on its way: QoS 1 acknowledgements, and messages to this worker's subscribers until none
  // has arrived for 250 ms; never longer than drainMs.
  const subs = plan.subEnd - plan.subStart
  const drainUntil = Date.now() + plan.drainMs
  let lastCount = -1
  let quietSince = Date.now()
  while (Date.now() < drainUntil) {
    const waitingAcks = plan.qos > 0 && publishers.some((p) => p.unacked > 0)
    if (totals.receivedTotal !== lastCount) { lastCount = totals.receivedTotal; quietSince = Date.now() }
    const waitingMessages = subs > 0 && plan.mode !== 'sub' && Date.now() - quietSince < 250
    if (!waitingAcks && !waitingMessages) break
    await sleep(25)
  }
  stopped = true
  clearInterval(ticker)
  clearTimeout(measureTimer)
  for (const c of clients) c.disconnect()
  report({ type: 'done', totals: snapshot() })
  await sleep(20)
  for (const c of clients) c.destroy()
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

if (!isMainThread && parentPort !== null && (workerData as { plan?: WorkerPlan } | undefined)?.plan !== undefined) {
  const port = parentPort
  const listeners: Array<() => void> = []
  let go: () => void = () => undefined
  const started = new Promise<void>((resolve) => { go = resolve })
  port.on('message', (m: { type?: string }) => {
    if (m.type === 'stop-sending') for (const l of listeners) l()
    if (m.type === 'go') go()
  })
  runWorker((workerData as { plan: WorkerPlan }).plan, (m) => { port.postMessage(m) }, { onStopSending: (l) => { listeners.push(l) }, go: () => started }).catch((err: unknown) => {
    port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) })
  })
}
