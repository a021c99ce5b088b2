/**
 * `npm run bench:voice`: the voice bridge's speed. (1) Parse time against a 10,000-device home (baseline: the demo
 * home, same run). (2) Utterance → every device reply on the embedded broker with the demo fleet (baseline: the
 * same commands through the Commander alone). One JSON line per case, a summary line per part; exit 1 when a target
 * is missed. `--quick` runs fewer rounds.
 */
import { runE2EBench } from './voice-e2e.ts'
import { runParseBench } from './voice-parse.ts'

const quick = process.argv.includes('--quick')
const parse = runParseBench(quick ? 3 : 20)
for (const c of parse.cases) console.log(JSON.stringify({ bench: 'voice-parse', ...c }))
console.log(JSON.stringify(parse.summary))
const e2e = await runE2EBench(quick ? 5 : 30)
for (const c of e2e.cases) console.log(JSON.stringify(c))
console.log(JSON.stringify(e2e.summary))
process.exitCode = parse.summary.ok === true && e2e.summary.ok === true ? 0 : 1
