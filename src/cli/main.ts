/**
 * The `bd` entry point: split global flags, run the @effect/cli command
 * tree, and turn the outcome into output and an exit code. This is the
 * only place the program is run.
 */
import { Command, Options, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Effect, Exit, Option } from "effect"
import * as os from "node:os"
import { ExitCode } from "../domain/Errors.js"
import { logCommand, replayCommand, verifyCommand } from "./AuditCommands.js"
import { configCommand } from "./ConfigCommands.js"
import { daemonCommand } from "./DaemonCommands.js"
import { doltCommand, withProjectionLag } from "./DoltCommands.js"
import { splitGlobalFlags } from "./GlobalFlags.js"
import { Globals } from "./Globals.js"
import { type Io, processIo } from "./Io.js"
import { consoleOn } from "./IoConsole.js"
import { initCommand } from "./InitCommand.js"
import { printError, renderError } from "./Output.js"
import { closeCommand, createCommand, listCommand, reopenCommand, showCommand, updateCommand } from "./IssueCommands.js"
import { exportCommand, importCommand, syncCommand } from "./JsonlCommands.js"
import { addPeer, listPeers, removePeer } from "./PeerCommands.js"
import { trustCommand } from "./TrustCommands.js"
import {
  conflictsCommand,
  pullCommand,
  pushCommand,
  resolveCommand,
  statusCommand,
  syncCommand as federationSync
} from "./SyncCommands.js"

declare const __BD_VERSION__: string
const VERSION = typeof __BD_VERSION__ === "string" ? __BD_VERSION__ : "0.0.0-dev"

const federation = Command.make("federation").pipe(
  Command.withDescription("Peer-to-peer federation of towns"),
  Command.withSubcommands([
    addPeer,
    removePeer,
    listPeers,
    pushCommand,
    pullCommand,
    federationSync,
    withProjectionLag(statusCommand),
    conflictsCommand,
    resolveCommand,
    trustCommand,
    logCommand,
    replayCommand,
    verifyCommand
  ])
)

// Global flags are taken out of argv before parsing (src/cli/Globals.ts); they are
// declared here too so that `bd --help` documents them.
const bd = Command.make("bd", {
  json: Options.boolean("json").pipe(Options.withDescription("machine-readable output (also after the subcommand)")),
  db: Options.text("db").pipe(Options.optional, Options.withDescription("the .beads directory to use (or BD_DIR)")),
  actor: Options.text("actor").pipe(Options.optional, Options.withDescription("who is acting (or BEADS_ACTOR, BD_ACTOR)")),
  readonly: Options.boolean("readonly").pipe(Options.withDescription("refuse every write (or BD_READONLY=1)"))
}).pipe(
  Command.withDescription("beads: work items, federated between towns"),
  Command.withSubcommands([
    initCommand,
    createCommand,
    updateCommand,
    closeCommand,
    reopenCommand,
    showCommand,
    listCommand,
    exportCommand,
    importCommand,
    syncCommand,
    configCommand,
    federation,
    doltCommand,
    daemonCommand
  ])
)

const cli = Command.run(bd, { name: "bd", version: VERSION })

/** What bd prints when `main` itself fails (a bug, not a command's error), wherever it ran. */
export const internalErrorText = (error: unknown): string =>
  `bd: internal error: ${error instanceof Error ? error.stack : String(error)}\n`

/** Run one command line; its exit code. */
export const main = async (argv: ReadonlyArray<string>, io: Io = processIo()): Promise<number> => {
  const split = splitGlobalFlags(argv)
  const globals = {
    ...split.flags,
    cwd: io.cwd,
    env: io.env,
    home: io.env["HOME"] ?? os.homedir(),
    io
  }
  if (split.missingValue !== undefined) {
    printError({ code: "Usage", message: `${split.missingValue} needs a value`, hint: "see: bd --help", exitCode: ExitCode.usage }, globals.json, io)
    return ExitCode.usage
  }
  const program = cli(["node", "bd", ...split.rest]).pipe(
    Effect.provideService(Globals, globals),
    Effect.provide(NodeContext.layer),
    Effect.withConsole(consoleOn(io))
  )
  const exit = await Effect.runPromiseExit(program, io.signal === undefined ? undefined : { signal: io.signal })
  if (Exit.isSuccess(exit)) return ExitCode.ok
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
    // @effect/cli has already printed what was wrong with the command line.
    if (globals.json) printError({ code: "Usage", message: "invalid command line", hint: "see: bd --help", exitCode: ExitCode.usage }, true, io)
    return ExitCode.usage
  }
  const error = Option.getOrElse(failure, () => Cause.squash(exit.cause))
  const rendered = renderError(error)
  const reported = typeof error === "object" && error !== null && (error as { reported?: unknown }).reported === true
  if (!(reported && globals.json)) printError(rendered, globals.json, io)
  return rendered.exitCode
}
