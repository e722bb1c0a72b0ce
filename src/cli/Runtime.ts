/**
 * Building the services a command runs on, from the global flags and the
 * environment: Town -> Config -> EventLog, Credentials, Session, and the
 * mode's composition (src/layers/modes.ts).
 */
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { resolveActor } from "../domain/Actor.js"
import { RequiresDirectDatabaseAccess } from "../domain/Errors.js"
import { Config, ConfigLive } from "../layers/Config.js"
import { CredentialsLive, townSecretsDir } from "../layers/Credentials.js"
import { DEFAULT_SNAPSHOT_EVERY } from "../layers/FileEventLog.js"
import { doltTarget } from "../layers/DoltSql.js"
import { layerForMode } from "../layers/modes.js"
import { RemoteLive } from "../layers/RoutedRemote.js"
import { locateBeadsDir, Town, TownLive } from "../layers/Town.js"
import { ensureTownKeys } from "../layers/TownKeys.js"
import { IssuesLive } from "../services/Issues.js"
import { SyncLive } from "../services/Sync.js"
import { TrustStoreLive } from "../services/TrustStore.js"
import { ProgressOnTerminal, ProgressSilent } from "../services/Progress.js"
import { Session } from "../services/Session.js"
import { type GlobalFlags, Globals } from "./Globals.js"
import { envFlagSet } from "./Io.js"
import { noticeOn } from "./Output.js"

const gitUserName = (cwd: string, env: GlobalFlags["env"]): string | undefined => {
  try {
    return execFileSync("git", ["config", "user.name"], { cwd, env, encoding: "utf8", timeout: 3_000, stdio: ["ignore", "pipe", "ignore"] })
  } catch {
    return undefined
  }
}

const readonlyReason = (globals: GlobalFlags): string | undefined => {
  if (globals.readonly) return "--readonly was given"
  const env = globals.env["BD_READONLY"]
  if (envFlagSet(env)) return `BD_READONLY=${env} is set`
  return undefined
}

/** `--readonly` / BD_READONLY refuse every write, files outside the log included (init, config set, export). */
export const refuseIfReadonly = Effect.flatMap(Globals, (globals) => {
  const reason = readonlyReason(globals)
  return reason === undefined
    ? Effect.void
    : Effect.fail(new RequiresDirectDatabaseAccess({ reason, hintText: "run the command without --readonly and with BD_READONLY unset" }))
})

const dbOverride = (globals: GlobalFlags): string | undefined => globals.db ?? globals.env["BD_DIR"]

/** Config alone, for commands that may run outside a town (`bd config list`). */
export const configLayer = (globals: GlobalFlags) =>
  ConfigLive({
    cwd: globals.cwd,
    env: globals.env,
    home: globals.home,
    beadsDir: locateBeadsDir(globals.cwd, dbOverride(globals)),
    flags: {}
  })

/** Everything a command inside a town needs. */
export const townLayer = (globals: GlobalFlags, command: string) => {
  const town = TownLive(globals.cwd, dbOverride(globals))
  const config = Layer.unwrapEffect(Effect.map(Town, (info) =>
    ConfigLive({ cwd: globals.cwd, env: globals.env, home: globals.home, beadsDir: info.beadsDir, flags: {} })))
  const perTown = Layer.unwrapEffect(Effect.gen(function*() {
    const info = yield* Town
    const cfg = yield* Config
    const snapshotEvery = Number(globals.env["BD_SNAPSHOT_EVERY"] ?? DEFAULT_SNAPSHOT_EVERY)
    const logOptions = {
      dir: path.join(info.beadsDir, "log"),
      town: info.townId,
      readonlyReason: readonlyReason(globals),
      lockTimeoutMs: cfg.lockTimeoutMs,
      command,
      snapshotEvery: Number.isFinite(snapshotEvery) && snapshotEvery > 0 ? snapshotEvery : DEFAULT_SNAPSHOT_EVERY,
      notice: noticeOn(globals.io)
    }
    const secretsDir = townSecretsDir(globals.env, globals.home, info.townId)
    const credentials = CredentialsLive(secretsDir)
    const dolt = doltTarget(cfg)
    // git peers through git, Dolt peers through the Dolt server of dolt.url (in every mode that federates).
    const remote = RemoteLive({
      beadsDir: info.beadsDir,
      town: info.townId,
      env: globals.env,
      secretsDir,
      keys: () => ensureTownKeys(secretsDir, info.beadsDir),
      dolt
    })
    const session = Layer.effect(
      Session,
      Effect.map(
        Effect.cached(Effect.sync(() =>
          resolveActor({
            flag: globals.actor,
            beadsActor: globals.env["BEADS_ACTOR"],
            bdActor: globals.env["BD_ACTOR"],
            configActor: cfg.actor,
            gitUserName: () => gitUserName(globals.cwd, globals.env),
            user: globals.env["USER"]
          })
        )),
        (actor) => ({ command, actor })
      )
    )
    const base = Layer.merge(credentials, session)
    const mode = layerForMode({
      mode: cfg.syncMode,
      backend: cfg.storageBackend,
      beadsDir: info.beadsDir,
      log: logOptions,
      dolt
    })
    const services = Layer.provideMerge(mode, base)
    const withIssues = Layer.provideMerge(IssuesLive(info.townId, cfg.issuePrefix), services)
    const sync = SyncLive({
      defaultTier: cfg.sovereignty,
      organization: cfg.organization,
      excludeTypes: cfg.excludeTypes,
      extraIdentifiers: cfg.identifierFields,
      pseudonym: () => ensureTownKeys(secretsDir, info.beadsDir).pseudonym
    })
    const progress = !globals.json && globals.io.errIsTTY
      ? ProgressOnTerminal(globals.io.err)
      : ProgressSilent
    return Layer.provideMerge(Layer.merge(sync, TrustStoreLive), Layer.mergeAll(withIssues, remote, progress))
  }))
  const withConfig = Layer.provideMerge(config, town)
  return Layer.provideMerge(perTown, withConfig)
}

export type TownServices = Layer.Layer.Success<ReturnType<typeof townLayer>>

/** Run a command's effect inside its town. */
export const inTown = <A, E, R>(command: string, effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Globals, (globals) => Effect.provide(effect, townLayer(globals, command)))
