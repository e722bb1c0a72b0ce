// 5. `bd import FILE` of a beads JSONL export into a fresh town, against the
// floor of parsing and re-serialising the same file in one process. bd runs
// as people run it: the bd daemon, started by the run's first command (the
// first warm-up import at the latest), serves the import, on code it has
// compiled already; the run fails unless every measured import went to
// it. 5c and 5d (info): the same imports with BD_NO_DAEMON=1, each in its
// own process. The last town of the largest import is kept for benchmark 6.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bd, nodeScript, waitForDaemon } from "./processes.mjs"
import { throughputFigure } from "./report.mjs"
import { alternate, collectGarbage } from "./stats.mjs"
import { createTown } from "./towns.mjs"
import { beadsJsonl, issueId } from "./workload.mjs"

const floorScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "jsonFloor.mjs")

const importInto = (town, file, count) => {
  collectGarbage()
  const result = bd(["--json", "import", file], town.options)
  const summary = JSON.parse(result.stdout)
  if (summary.created !== count) throw new Error(`bd import created ${summary.created} issues, expected ${count}`)
  return result.ms
}

const floor = (file, count, options) => {
  const result = nodeScript(floorScript, [file], options)
  if (Number(result.stdout.split(" ")[0]) !== count) throw new Error(`the floor read ${result.stdout.trim()} from ${file}`)
  return result.ms
}

/** The commands the run's daemon has served so far. */
const served = (options) => {
  const status = JSON.parse(bd(["--json", "daemon", "status"], options).stdout)
  if (!status.running) throw new Error("the bd daemon is not running")
  return status.served
}

/** `town.options` with BD_NO_DAEMON=1: bd in its own process. */
const alone = (town) => ({ ...town, options: { ...town.options, env: { ...town.options.env, BD_NO_DAEMON: "1" } } })

export const importIssues = async ({ root, sizes, progress, note, shared }) => {
  const figures = []
  const info = []
  const dir = path.join(root, "import")
  fs.mkdirSync(dir, { recursive: true })
  let warmed = false
  for (const [index, { issues: count, reps }] of sizes.imports.entries()) {
    const file = path.join(dir, `issues-${count}.jsonl`)
    fs.writeFileSync(file, beadsJsonl(count))
    note(`importFile${count}`, { issues: count, bytes: fs.statSync(file).size })
    const size = count.toLocaleString("en-US")
    const towns = Array.from({ length: reps.pairs + (warmed ? 0 : 1) }, (_, n) => createTown(root, `import-${count}-${n}`))
    const ownTowns = Array.from({ length: reps.pairs + (warmed ? 0 : 1) }, (_, n) => alone(createTown(root, `import-alone-${count}-${n}`)))
    const options = towns[0].options
    if (!warmed) {
      progress(`warming up with one import of ${size} issues, served by the daemon and in its own process`)
      importInto(towns.shift(), file, count)
      importInto(ownTowns.shift(), file, count)
      floor(file, count, options)
      // From here on the daemon serves every import.
      waitForDaemon(options)
      warmed = true
    }
    const perSecond = (ms) => count / (ms / 1000)

    progress(`bd import of ${size} issues vs parse+stringify, up to ${reps.pairs} pairs`)
    let next = 0
    const before = served(options)
    const runs = await alternate(
      reps,
      () => perSecond(floor(file, count, options)),
      () => perSecond(importInto(towns[next++], file, count))
    )
    const servedImports = served(options) - before
    if (servedImports !== runs.subject.length) {
      throw new Error(`the daemon served ${servedImports} of the ${runs.subject.length} measured imports of ${size} issues`)
    }
    figures.push(throughputFigure({
      id: `5${String.fromCharCode(97 + index)}`,
      title: `bd import of ${size} issues`,
      unit: "issues/s",
      baselineLabel: "parse+stringify",
      subjectLabel: "bd import",
      ...runs,
      target: 0.3
    }))
    shared.importTown = { town: towns[next - 1], issues: count, someId: issueId("bd", Math.floor(count / 2)) }

    progress(`bd import of ${size} issues with BD_NO_DAEMON=1 vs parse+stringify, up to ${reps.pairs} pairs`)
    let nextOwn = 0
    const ownRuns = await alternate(
      reps,
      () => perSecond(floor(file, count, options)),
      () => perSecond(importInto(ownTowns[nextOwn++], file, count))
    )
    info.push(throughputFigure({
      id: `5${String.fromCharCode(97 + sizes.imports.length + index)}`,
      title: `bd import of ${size} issues, BD_NO_DAEMON=1 (info)`,
      unit: "issues/s",
      baselineLabel: "parse+stringify",
      subjectLabel: "bd import alone",
      ...ownRuns
    }))
  }
  return [...figures, ...info]
}
