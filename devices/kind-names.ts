/** The device kinds, without the device runtime: the CLI's option tables need them, and `fleet --help` should not load MQTT.js. */
export const DEVICE_KINDS = ['speaker', 'band', 'camera'] as const
export type DeviceKind = typeof DEVICE_KINDS[number]
