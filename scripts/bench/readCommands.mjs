// 6. The everyday read commands on the big imported town of benchmark 5:
// `bd list` and `bd show ID`, cold, against an empty node process.
import { versusNodeNoop } from "./coldStart.mjs"
import { bd, bdMs } from "./processes.mjs"
import { timeFigure } from "./report.mjs"

export const readCommands = async ({ sizes, progress, shared }) => {
  const imported = shared.importTown
  if (imported === undefined) throw new Error("needs the imported town of benchmark 5, which did not complete")
  const { town, issues, someId } = imported
  const shown = JSON.parse(bd(["--json", "show", someId], town.options).stdout)
  if (shown[0]?.id !== someId) throw new Error(`bd show ${someId} showed ${JSON.stringify(shown).slice(0, 200)}`)
  const listed = JSON.parse(bd(["--json", "list"], town.options).stdout)
  if (listed.length !== 50) throw new Error(`bd list showed ${listed.length} issues, expected its default limit of 50`)
  const size = `${issues.toLocaleString("en-US")} issues`
  const figures = []
  for (const [id, args] of [["6a", ["list"]], ["6b", ["show", someId]]]) {
    progress(`bd ${args[0]} on ${size} vs node -e 0, up to ${sizes.readCommands.pairs} alternating pairs`)
    const runs = await versusNodeNoop(sizes.readCommands, town.options, () => bdMs(args, town.options))
    figures.push(timeFigure({
      id,
      title: `bd ${args[0]} cold start, ${size}`,
      baselineLabel: "node -e 0",
      subjectLabel: "bd",
      ...runs,
      target: 3
    }))
  }
  return figures
}
