/** `bd export | import | sync`: beads JSONL in and out. */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { InvalidArgument, StorageError } from "../domain/Errors.js"
import { readIssuesJsonl } from "../domain/IssueJsonl.js"
import { exportIssues, issuesJsonl } from "../layers/JsonlFiles.js"
import { Town } from "../layers/Town.js"
import { type ImportSummary, Issues } from "../services/Issues.js"
import { emit } from "./Output.js"
import { Globals } from "./Globals.js"
import { inTown, refuseIfReadonly } from "./Runtime.js"

/**
 * `file` in the run's directory, which is not this process's when the
 * daemon runs the command. Joined, not normalised: `..` after a symbolic
 * link leads where the kernel says, as when bd reads FILE in its own
 * directory (and an empty name stays one that does not exist).
 */
const inRunDir = (file: string) =>
  Effect.map(Globals, (globals) => (file === "" || path.isAbsolute(file) ? file : `${globals.cwd}/${file}`))

/** The text of `file` (errors name it as it was given). */
const readText = (file: string) =>
  Effect.flatMap(inRunDir(file), (resolved) =>
    Effect.try({
      // Read as bytes, then decoded: the same text, and quicker on Node 20 than readFileSync(file, "utf8") for a large file.
      try: () => fs.readFileSync(resolved).toString("utf8"),
      catch: (error) =>
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? new InvalidArgument({ argument: "file", value: file, allowed: "an existing beads JSONL file" })
          : new StorageError({ path: file, reason: (error as Error).message })
    }))

const defaultFile = Effect.map(Town, (town) => path.join(town.beadsDir, "issues.jsonl"))

const importFile = (file: string, dryRun: boolean) =>
  Effect.gen(function*() {
    const records = yield* readIssuesJsonl(yield* readText(file), file)
    return yield* (yield* Issues).importRecords(records, dryRun)
  })

const describeImport = (file: string, summary: ImportSummary, dryRun: boolean): string =>
  `${dryRun ? "Would import" : "Imported"} ${file}: ${summary.records} record(s), ${summary.created} new, ${summary.updated} updated, ${summary.unchanged} unchanged`

export const exportCommand = Command.make(
  "export",
  { output: Options.text("output").pipe(Options.withAlias("o"), Options.optional, Options.withDescription("file to write (default .beads/issues.jsonl; - for stdout)")) },
  ({ output }) =>
    inTown("bd export", Effect.gen(function*() {
      const state = yield* (yield* Issues).state
      if (Option.getOrUndefined(output) === "-") {
        // The same bytes as the file: nothing at all for an empty town.
        const text = issuesJsonl(state)
        const { io } = yield* Globals
        return yield* Effect.sync(() => io.out(text))
      }
      yield* refuseIfReadonly
      const file = Option.isSome(output) ? path.resolve((yield* Globals).cwd, output.value) : yield* defaultFile
      const count = yield* exportIssues(state, file)
      yield* emit(() => ({ file, issues: count }), () => `Exported ${count} work item(s) to ${file}`)
    }))
).pipe(Command.withDescription("Write every work item as beads JSONL, sorted by id (atomically)"))

export const importCommand = Command.make(
  "import",
  {
    file: Args.text({ name: "file" }),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("report what would change, change nothing"))
  },
  ({ dryRun, file }) =>
    inTown("bd import", Effect.gen(function*() {
      const summary = yield* importFile(file, dryRun)
      yield* emit(() => ({ file, dryRun, ...summary }), () => describeImport(file, summary, dryRun))
    }))
).pipe(Command.withDescription("Read beads JSONL: all or nothing, idempotent, newer records update"))

export const syncCommand = Command.make("sync", {}, () =>
  inTown("bd sync", Effect.gen(function*() {
    yield* refuseIfReadonly
    const file = yield* defaultFile
    const imported = fs.existsSync(file) ? Option.some(yield* importFile(file, false)) : Option.none()
    const count = yield* exportIssues(yield* (yield* Issues).state, file)
    yield* emit(
      () => ({ file, imported: Option.getOrNull(imported), exported: count }),
      () => [
        ...Option.match(imported, { onNone: () => [], onSome: (summary) => [describeImport(file, summary, false)] }),
        `Exported ${count} work item(s) to ${file}`
      ]
    )
  }))).pipe(Command.withDescription("Merge .beads/issues.jsonl (as changed by git) into the log, then export it again"))
