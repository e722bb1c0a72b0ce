/** `bd init`: create a town, or complete one without overwriting anything. */
import { Command, Options } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import { ConfigKeys } from "../domain/ConfigKeys.js"
import { InvalidArgument, StorageError } from "../domain/Errors.js"
import { townSecretsDir } from "../layers/Credentials.js"
import { ensureTownKeys, SigningKeyMissing } from "../layers/TownKeys.js"
import { initTarget, initTown } from "../layers/Town.js"
import { now } from "../services/Session.js"
import { Globals } from "./Globals.js"
import { emit } from "./Output.js"
import { refuseIfReadonly } from "./Runtime.js"

const validPrefix = (prefix: Option.Option<string>) =>
  Option.match(prefix, {
    onNone: () => Either.right(undefined),
    onSome: (text) =>
      Either.mapLeft(
        ConfigKeys.issue_prefix.parse(text),
        (allowed) => new InvalidArgument({ argument: "--prefix", value: text, allowed })
      )
  })

export const initCommand = Command.make(
  "init",
  {
    town: Options.text("town").pipe(Options.optional, Options.withDescription("a human name for this town")),
    prefix: Options.text("prefix").pipe(Options.optional, Options.withDescription("issue id prefix (default bd)"))
  },
  ({ prefix, town }) =>
    Effect.gen(function*() {
      const globals = yield* Globals
      yield* refuseIfReadonly
      const issuePrefix = yield* validPrefix(prefix)
      const dir = initTarget(globals.cwd, globals.db ?? globals.env["BD_DIR"])
      const result = yield* initTown(dir, { name: Option.getOrUndefined(town), prefix: issuePrefix, now: yield* now })
      // Keys are made for a new town; a town made elsewhere keeps its key (and says so).
      const keys = yield* Effect.try({
        try: () => ensureTownKeys(townSecretsDir(globals.env, globals.home, result.town.townId), dir),
        catch: (error) => error
      }).pipe(
        Effect.catchAll((error) =>
          error instanceof SigningKeyMissing
            ? Effect.succeed(undefined)
            : Effect.fail(new StorageError({ path: dir, reason: `cannot create the town's keys: ${(error as Error).message}` }))
        )
      )
      yield* emit(
        () => ({
          beadsDir: dir,
          townId: result.town.townId,
          name: result.town.name,
          publicKey: keys?.publicKey ?? null,
          existed: result.existed,
          created: result.created
        }),
        () =>
          result.existed
            ? [
              `Town ${result.town.name} (${result.town.townId}) is already initialized in ${dir}; nothing was overwritten.`,
              ...result.created.map((file) => `  restored ${file}`),
              ...(keys === undefined ? ["  note: this town's signing key is not in this user's configuration; publishing needs it"] : [])
            ]
            : [
              `Initialized town ${result.town.name} (${result.town.townId}) in ${dir}`,
              "  sync mode: git-portable (enable federation with: bd config set sync.mode dolt-native)"
            ]
      )
    })
).pipe(Command.withDescription("Create a beads town in .beads/ (harmless to run again)"))
