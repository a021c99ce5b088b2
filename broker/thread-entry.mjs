// Entry of the broker thread: worker threads do not inherit the tsx loader registered by bin/fleet.js (or by
// vitest), so the thread registers it before loading the TypeScript host.
import { register } from 'tsx/esm/api'

register()
await import('./thread-host.ts')
