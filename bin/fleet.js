#!/usr/bin/env node
// The `fleet` executable. HomeFleet runs from its TypeScript sources through tsx's loader (esbuild: type-stripping
// only, no type checking at run time), so `npm install` is the only set-up step and there is no stale build to ship.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
