// 5. `bd import FILE` of a beads JSONL export into a fresh town, one process,
// against the floor of parsing and re-serialising the same file in one
// process. The last town of the largest import is kept for benchmark 6.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bd, nodeScript } from "./processes.mjs"
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

export const importIssues = async ({ root, sizes, progress, note, shared }) => {
  const figures = []
  const dir = path.join(root, "import")
  fs.mkdirSync(dir, { recursive: true })
  let warmed = false
  for (const [index, { issues: count, reps }] of sizes.imports.entries()) {
    const file = path.join(dir, `issues-${count}.jsonl`)
    fs.writeFileSync(file, beadsJsonl(count))
    note(`importFile${count}`, { issues: count, bytes: fs.statSync(file).size })
    const towns = Array.from({ length: reps.pairs + (warmed ? 0 : 1) }, (_, n) => createTown(root, `import-${count}-${n}`))
    const options = towns[0].options
    if (!warmed) {
      progress(`warming up with one import of ${count.toLocaleString("en-US")} issues`)
      importInto(towns.shift(), file, count)
      floor(file, count, options)
      warmed = true
    }
    progress(`bd import of ${count.toLocaleString("en-US")} issues vs parse+stringify, up to ${reps.pairs} pairs`)
    let next = 0
    const perSecond = (ms) => count / (ms / 1000)
    const runs = await alternate(
      reps,
      () => perSecond(floor(file, count, options)),
      () => perSecond(importInto(towns[next++], file, count))
    )
    figures.push(throughputFigure({
      id: `5${String.fromCharCode(97 + index)}`,
      title: `bd import of ${count.toLocaleString("en-US")} issues`,
      unit: "issues/s",
      baselineLabel: "parse+stringify",
      subjectLabel: "bd import",
      ...runs,
      target: 0.3
    }))
    shared.importTown = { town: towns[next - 1], issues: count, someId: issueId("bd", Math.floor(count / 2)) }
  }
  return figures
}
