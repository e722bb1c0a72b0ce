// `npm run bench`: how bd performs, as ratios against baselines measured side
// by side in the same run (these machines are noisy; absolute times are not
// comparable from one run to the next, ratios are). Prints a table, writes
// bench/results/<ISO time>.json and bench/results/latest.json.
//
//   BENCH_QUICK=1   shrink every size for a smoke run (the output says so)
//   BENCH_ONLY=1,3  run only these benchmarks (4 needs 3, 6 needs 5)
//
// A missed target never fails the run; a benchmark that crashes does (exit 1).
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { appendThroughput } from "./bench/append.mjs"
import { bigLogStart } from "./bench/bigLogStart.mjs"
import { coldStart } from "./bench/coldStart.mjs"
import { benchDolt } from "./bench/dolt.mjs"
import { importIssues } from "./bench/importIssues.mjs"
import { freezeCli, projectRoot, stopDaemon } from "./bench/processes.mjs"
import { readCommands } from "./bench/readCommands.mjs"
import { replay } from "./bench/replay.mjs"
import { machine, renderTable, writeResults } from "./bench/report.mjs"
import { reps } from "./bench/stats.mjs"
import { benchSync } from "./bench/sync.mjs"

// Repetitions are reps(at most, at least, seconds to aim for): see alternate() in bench/stats.mjs.
const FULL = {
  coldStart: reps(21, 15, 60),
  bigBatch: 100_000,
  bigBatchReps: reps(5, 3, 45),
  smallCommands: 300,
  smallCommandsReps: reps(7, 3, 25),
  createCommands: 50,
  createBlocks: reps(3, 1, 40),
  replayEvents: 1_000_000,
  replayBatch: 20_000,
  replayTail: 1_000,
  replayReps: reps(3, 3, 120),
  smallTownEvents: 1_000,
  bigLogStart: reps(21, 9, 40),
  imports: [{ issues: 10_000, reps: reps(7, 3, 30) }, { issues: 100_000, reps: reps(5, 3, 60) }],
  readCommands: reps(15, 5, 40)
}

const QUICK = {
  coldStart: reps(7, 5, 15),
  bigBatch: 10_000,
  bigBatchReps: reps(3, 3, 15),
  smallCommands: 50,
  smallCommandsReps: reps(3, 3, 10),
  createCommands: 10,
  createBlocks: reps(2, 1, 10),
  replayEvents: 20_000,
  replayBatch: 2_000,
  replayTail: 1_000,
  replayReps: reps(3, 3, 15),
  smallTownEvents: 1_000,
  bigLogStart: reps(7, 5, 15),
  imports: [{ issues: 1_000, reps: reps(3, 3, 10) }, { issues: 5_000, reps: reps(3, 3, 10) }],
  readCommands: reps(7, 5, 15)
}

const BENCHMARKS = [
  { id: "1", title: "cold start: list-peers vs node -e 0", run: coldStart },
  { id: "2", title: "durable append throughput", run: appendThroughput },
  { id: "3", title: "replay of a big log vs JSON.parse", run: replay },
  { id: "4", title: "list-peers: big log vs small log", run: bigLogStart },
  { id: "5", title: "bd import vs parse+stringify", run: importIssues },
  { id: "6", title: "bd list / bd show on the imported town", run: readCommands },
  { id: "7", title: "federation sync: incremental, and a first full sync vs git-portable", run: ({ progress }) => benchSync({ quick, progress }) },
  { id: "8", title: "Dolt projection: catch-up vs mariadb client, command overhead", run: ({ progress }) => benchDolt({ quick, progress }) }
]

const flag = (name) => {
  const value = process.env[name]
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false"
}

const quick = flag("BENCH_QUICK")
const sizes = quick ? QUICK : FULL
const only = (process.env.BENCH_ONLY ?? "").split(",").map((id) => id.trim()).filter((id) => id !== "")
const selected = only.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => only.includes(b.id))

for (const built of ["dist/bd-main.cjs", "dist/lib/index.js"]) {
  if (!fs.existsSync(path.join(projectRoot, built))) {
    console.error(`bench: ${built} is missing; run: npm run build (npm run bench builds first)`)
    process.exit(1)
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-bench-"))
fs.mkdirSync(path.join(root, "home"))
freezeCli(root)
const removeRoot = () => {
  stopDaemon(root)
  fs.rmSync(root, { recursive: true, force: true })
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    removeRoot()
    process.exit(130)
  })
}

const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s`
const date = new Date()
console.log(`bd benchmarks, ${date.toISOString()}, node ${process.version}, ${os.cpus().length} cpus`)
console.log(
  quick
    ? "BENCH_QUICK: sizes are SHRUNK for a smoke run; the ratios are not comparable with a full run"
    : "full sizes (BENCH_QUICK=1 shrinks them for a smoke run)"
)
if (only.length > 0) console.log(`BENCH_ONLY: running ${selected.map((b) => b.id).join(", ")} of ${BENCHMARKS.length}`)
console.log(`data under ${root} (removed at the end)`)

const figures = []
const failures = []
const notes = {}
const shared = {}
try {
  for (const benchmark of selected) {
    const progress = (message) => console.log(`${elapsed()} [${benchmark.id}] ${message}`)
    progress(benchmark.title)
    try {
      const produced = await benchmark.run({
        root,
        sizes,
        shared,
        progress,
        note: (key, value) => {
          notes[key] = value
        }
      })
      // Modules written apart name things slightly differently: give every figure the fields the table needs.
      figures.push(...produced.map((f, i) => ({
        ...f,
        id: String(f.id ?? `${benchmark.id}${String.fromCharCode(97 + i)}`),
        title: String(f.title ?? f.name ?? benchmark.title),
        baseline: { label: "", unit: "", median: Number.NaN, ...f.baseline },
        subject: { label: "", unit: "", median: Number.NaN, ...f.subject },
        target: f.target ?? null,
        met: f.met ?? null
      })))
    } catch (error) {
      progress(`CRASHED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
      failures.push({ id: benchmark.id, title: benchmark.title, error: error instanceof Error ? error.message : String(error) })
    }
  }
} finally {
  removeRoot()
}

const durationSeconds = Number(((performance.now() - started) / 1000).toFixed(1))
console.log("")
console.log(renderTable(figures, failures))
console.log("")
console.log("ratio: times are subject/baseline (lower is better); throughputs and floors are subject speed/baseline speed (higher is better).")
const withTarget = figures.filter((f) => f.target !== null)
console.log(
  `${withTarget.filter((f) => f.met).length} of ${withTarget.length} targets met` +
    (failures.length > 0 ? `; ${failures.length} benchmark(s) CRASHED` : "") +
    `; ${durationSeconds} s${quick ? "; sizes SHRUNK (BENCH_QUICK)" : ""}`
)

const file = writeResults(path.join(projectRoot, "bench", "results"), date, {
  date: date.toISOString(),
  quick,
  sizesShrunk: quick,
  only: only.length > 0 ? only : undefined,
  machine: machine(),
  sizes,
  notes,
  durationSeconds,
  figures,
  failures
})
console.log(`results: ${path.relative(projectRoot, file)} and bench/results/latest.json`)
process.exitCode = failures.length > 0 ? 1 : 0
