// The sync benchmarks alone: `node --expose-gc scripts/bench/run-sync.mjs`
// (BENCH_QUICK=1 shrinks the sizes). Build first: npm run build.
import { benchSync } from "./sync.mjs"
import { renderTable } from "./report.mjs"

const quick = process.env.BENCH_QUICK === "1"
console.log(`bd sync benchmarks, ${new Date().toISOString()}, node ${process.version}${quick ? ", BENCH_QUICK: sizes SHRUNK" : ""}`)
const figures = await benchSync({ quick, progress: (message) => console.log(message) })
console.log("")
console.log(renderTable(figures, []))
console.log("")
for (const f of figures) {
  console.log(`${f.id}: ${f.baseline.label} samples ${f.baseline.samples.join(", ")} ms; ${f.subject.label} samples ${f.subject.samples.join(", ")} ms`)
  if (f.note) console.log(`${f.id}: ${f.note}`)
}
console.log(`ratio: ${figures[0]?.definition}; ${figures.filter((f) => f.met).length} of ${figures.length} targets met`)
if (process.env.BENCH_JSON !== undefined) console.log(JSON.stringify(figures, null, 2))
