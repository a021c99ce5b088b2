/**
 * `npm run bench:voice`: the voice bridge's speed. Parse time against a 10,000-device home (baseline: the demo
 * home, same run). Prints one JSON line per case, then a summary line; exit 1 when a target is missed.
 */
import { runParseBench } from './voice-parse.ts'

const quick = process.argv.includes('--quick')
const parse = runParseBench(quick ? 3 : 20)
for (const c of parse.cases) console.log(JSON.stringify({ bench: 'voice-parse', ...c }))
console.log(JSON.stringify(parse.summary))
process.exitCode = parse.summary.ok === true ? 0 : 1
