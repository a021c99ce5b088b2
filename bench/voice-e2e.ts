/**
 * Utterance → every device reply, through the bridge, on the embedded broker with the demo fleet. Baseline in the
 * same run: the same commands sent straight through core's Commander (what the bridge adds is understanding,
 * resolution and the answer). Bounded: a fixed number of rounds over a fixed list of utterances.
 */
import { createBroker } from '../broker/broker.ts'
import { Bridge } from '../bridge/bridge.ts'
import { Fleet, planHome } from '../devices/index.ts'

/** Utterances that command devices, in both languages, one to four devices each. */
const UTTERANCES = [
  'set the kitchen speaker to 30', 'turn on the kitchen speaker', 'turn off all the cameras', 'turn on all the cameras',
  "what's my heart rate", 'mute the office', 'unmute the office', 'allume la caméra du jardin',
  'baisse le son de la chambre de 5', 'take a picture of the garden', 'éteins le salon', 'allume le salon'
]

interface Stats { n: number; p50Ms: number; p99Ms: number; maxMs: number }
function stats (samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => Math.round((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) * 100) / 100
  return { n: s.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) }
}

export async function runE2EBench (rounds = 30): Promise<{ cases: Array<Record<string, unknown>>; summary: Record<string, unknown> }> {
  const broker = await createBroker({ port: 0, host: '127.0.0.1' })
  const target = { url: broker.url as string }
  const fleet = new Fleet(planHome({ home: 'demo' }), { target, seed: 1 })
  await fleet.start()
  const bridge = await Bridge.start({ target, serve: false })
  try {
    // Warm-up (JIT, first subscriptions), and the commands each utterance becomes, for the baseline.
    const plans: Array<Array<{ id: string; command: string; args: Record<string, unknown> }>> = []
    for (const u of UTTERANCES) {
      const a = await bridge.voice.ask(u)
      if (a.outcome !== 'done') throw new Error(`warm-up: ${u} → ${a.outcome}: ${a.speech}`)
      plans.push(a.results.filter((r) => r.command !== undefined).map((r) => ({ id: r.deviceId, command: r.command as string, args: argsOf(r.command as string, a.slots) })))
    }
    const viaBridge: number[] = []
    const direct: number[] = []
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < UTTERANCES.length; i++) {
        const t0 = performance.now()
        await bridge.voice.ask(UTTERANCES[i] as string)
        viaBridge.push(performance.now() - t0)
        const t1 = performance.now()
        await Promise.all((plans[i] ?? []).map((p) => bridge.commander.send(p.id, p.command, p.args)))
        direct.push(performance.now() - t1)
      }
    }
    const b = stats(viaBridge)
    const d = stats(direct)
    return {
      cases: [{ bench: 'voice-e2e', name: 'utterance → all replies (bridge)', ...b }, { bench: 'voice-e2e', name: 'same commands via Commander (baseline)', ...d }],
      summary: { bench: 'voice-e2e', p99Ms: b.p99Ms, baselineP99Ms: d.p99Ms, p99Ratio: Math.round(100 * b.p99Ms / Math.max(0.01, d.p99Ms)) / 100, targetP99Ms: 50, ok: b.p99Ms < 50 }
    }
  } finally {
    await bridge.stop()
    await fleet.stop()
    await broker.close()
  }
}

function argsOf (command: string, slots: { level?: number; delta?: number }): Record<string, unknown> {
  if (command === 'setVolume') return { level: slots.level }
  if (command === 'changeVolume') return { delta: slots.delta }
  return {}
}
