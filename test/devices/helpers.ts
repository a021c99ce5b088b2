/** Shared set-up for device unit tests: virtual time, a silent runtime, specs, and event recording. */
import type { VirtualClock } from '../../core/clock.ts'
import { silentLogger } from '../../core/logger.ts'
import { Random } from '../../core/random.ts'
import { createTopics } from '../../core/topics.ts'
import { Band } from '../../devices/band.ts'
import { Camera } from '../../devices/camera.ts'
import type { Device, DeviceKind, DeviceRuntime, DeviceSpec } from '../../devices/device.ts'
import { DEFAULT_FIRMWARE, DEFAULT_MODELS } from '../../devices/home.ts'

/** 2026-01-01 08:00 UTC, the VirtualClock's default start. */
export const START = Date.UTC(2026, 0, 1, 8, 0, 0)
export const at = (hh: number, mm = 0, day = 0): number => Date.UTC(2026, 0, 1 + day, hh, mm, 0)

export function runtimeFor (clock: VirtualClock, seed: number | string = 1): DeviceRuntime {
  return { target: { url: 'mqtt://unused.invalid' }, topics: createTopics(), clock, random: new Random(seed), logger: silentLogger }
}

export function specFor (kind: DeviceKind, over: Partial<DeviceSpec> = {}): DeviceSpec {
  return {
    id: `test-${kind}`,
    kind,
    model: DEFAULT_MODELS[kind],
    room: 'living room',
    name: `test ${kind}`,
    firmware: DEFAULT_FIRMWARE[kind],
    home: 'test',
    telemetryIntervalMs: 5000,
    ...over
  }
}

export interface RecordedEvent { name: string; at: number; data: Record<string, unknown> }

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the TypeScript mixin pattern requires any[] here
type DeviceClass = abstract new (...args: any[]) => Device

/** A device class that remembers the events it emits (unit tests have no broker to publish them to). */
function recording<B extends DeviceClass> (Base: B) {
  abstract class Recording extends Base {
    readonly events: RecordedEvent[] = []
    protected override emitEvent (name: string, data: Record<string, unknown> = {}): void {
      this.events.push({ name, at: this.clock.now(), data })
      super.emitEvent(name, data)
    }
  }
  return Recording
}

export class RecordingBand extends recording(Band) {}
export class RecordingCamera extends recording(Camera) {}

/** One telemetry tick in virtual time: move the clock on by the interval, then step and sample. */
export function tick (device: Device, clock: VirtualClock, n = 1): void {
  for (let i = 0; i < n; i++) {
    clock.advance(device.spec.telemetryIntervalMs)
    device.sendTelemetry()
  }
}

/** The error code of a reply, or 'ok'. */
export function codeOf (reply: { ok: boolean; error?: { code: string } }): string {
  return reply.ok ? 'ok' : (reply.error?.code ?? '?')
}
