/** The device kinds, without the device runtime: the CLI's option tables need them, and `fleet --help` should not load MQTT.js. */
export { DEVICE_KINDS, type DeviceKind } from '../core/catalogue.ts'
