export { createBroker, validateBrokerOptions, defaultBrokerOptions } from './broker.ts'
export type { BrokerClient, BrokerEvents, BrokerHooks, BrokerMessage, BrokerOptions, BrokerStats, BrokerSubscription, EmbeddedBroker } from './broker.ts'
export type { RouterStats } from './router.ts'
export { duplexPair } from './duplex-pair.ts'
