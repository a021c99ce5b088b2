export { createBroker, validateBrokerOptions, defaultBrokerOptions } from './broker.ts'
export type { BrokerOptions, BrokerStats, EmbeddedBroker } from './broker.ts'
export { duplexPair } from './duplex-pair.ts'
