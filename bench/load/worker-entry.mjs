// Entry of a load worker thread: worker threads do not inherit the tsx loader registered by bin/fleet.js (or by
// vitest), so the thread registers it before loading the TypeScript worker.
import { register } from 'tsx/esm/api'

register()
await import('./worker.ts')
