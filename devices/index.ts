/** The public API of the device runtime (devices/): device kinds, their runtime, homes, and command errors. */
export * from './device.ts'
export * from './command-error.ts'
export * from './speaker.ts'
export * from './band.ts'
export * from './camera.ts'
export * from './kinds.ts'
export * from './home.ts'
export { DAY_MS, HOUR_MS, MINUTE_MS, HHMM_RE, parseHhmm, utcOffsetMs, localDay, localHour, nextOccurrence } from './local-time.ts'
