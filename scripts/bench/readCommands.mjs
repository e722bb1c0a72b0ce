// 6. The everyday read commands on the big imported town of benchmark 5:
// `bd list` and `bd show ID`, cold, against an empty node process.
import { versusNodeNoop } from "./coldStart.mjs"
import { bd, bdMs, waitForDaemon } from "./processes.mjs"
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
  waitForDaemon(town.options)
  const alone = { ...town.options, env: { ...town.options.env, BD_NO_DAEMON: "1" } }
  const cases = [
    ["6a", ["list"], town.options, 3, ""],
    ["6b", ["show", someId], town.options, 3, ""],
    ["6c", ["list"], alone, null, ", BD_NO_DAEMON=1 (info)"],
    ["6d", ["show", someId], alone, null, ", BD_NO_DAEMON=1 (info)"]
  ]
  for (const [id, args, options, target, how] of cases) {
    progress(`bd ${args[0]}${how} on ${size} vs node -e 0, up to ${sizes.readCommands.pairs} alternating pairs`)
    const runs = await versusNodeNoop(sizes.readCommands, options, () => bdMs(args, options))
    figures.push(timeFigure({
      id,
      title: `bd ${args[0]} cold start, ${size}${how}`,
      baselineLabel: "node -e 0",
      subjectLabel: "bd",
      ...runs,
      target
    }))
  }
  return figures
}
