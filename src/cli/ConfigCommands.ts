/**
 * `bd config list | get | set | unset`. Peers are shown as
 * `federation.peers.<name>.endpoint` (and `.sovereignty`), read from the
 * event-sourced state, so `bd config list | grep federation.peers` works.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { ConfigKeyNotSet, NotInitialized } from "../domain/Errors.js"
import { listPeers } from "../domain/Federation.js"
import { EventLog } from "../events/EventLog.js"
import { Config, type ConfigEntry, setConfigValue, unsetConfigValue } from "../layers/Config.js"
import { locateBeadsDir } from "../layers/Town.js"
import { Globals } from "./Globals.js"
import { emit } from "./Output.js"
import { configLayer, refuseIfReadonly, townLayer } from "./Runtime.js"

/** Effective settings plus the peers of the town (when there is one). */
const allEntries = Effect.gen(function*() {
  const globals = yield* Globals
  const config = yield* Effect.provide(Config, configLayer(globals))
  const inTown = locateBeadsDir(globals.cwd, globals.db ?? globals.env["BD_DIR"]) !== undefined
  const peers = inTown
    ? yield* Effect.provide(
      Effect.map(Effect.flatMap(EventLog, (log) => log.load(["peers"])), (loaded) => listPeers(loaded.state.peers)),
      townLayer(globals, "bd config")
    )
    : []
  const peerEntries: Array<ConfigEntry> = peers.flatMap((peer) => [
    { key: `federation.peers.${peer.name}.endpoint`, value: peer.endpoint, raw: peer.endpoint, source: "bd federation add-peer" },
    ...(peer.sovereignty === undefined
      ? []
      : [{ key: `federation.peers.${peer.name}.sovereignty`, value: peer.sovereignty, raw: peer.sovereignty, source: "bd federation add-peer" }])
  ])
  return { config, entries: [...config.entries, ...peerEntries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) }
})

export const configList = Command.make(
  "list",
  { showOrigin: Options.boolean("show-origin").pipe(Options.withDescription("prefix each line with where the value comes from")) },
  ({ showOrigin }) =>
    Effect.gen(function*() {
      const { entries } = yield* allEntries
      yield* emit(
        () => Object.fromEntries(entries.map((entry) => [entry.key, entry.value])),
        () => entries.map((entry) => `${showOrigin ? `${entry.source}\t` : ""}${entry.key} = ${entry.value}`)
      )
    })
).pipe(Command.withDescription("List every effective setting, sorted, as key = value"))

export const configGet = Command.make("get", { key: Args.text({ name: "key" }) }, ({ key }) =>
  Effect.gen(function*() {
    const { entries } = yield* allEntries
    const entry = Option.fromNullable(entries.find((e) => e.key === key))
    if (Option.isNone(entry)) return yield* Effect.fail(new ConfigKeyNotSet({ key }))
    yield* emit(() => ({ key, value: entry.value.value, source: entry.value.source }), () => entry.value.value)
  })).pipe(Command.withDescription("Print one setting"))

/** The project file of the current town: set/unset write there. */
const projectFile = Effect.gen(function*() {
  const globals = yield* Globals
  const dir = locateBeadsDir(globals.cwd, globals.db ?? globals.env["BD_DIR"])
  if (dir === undefined) return yield* Effect.fail(new NotInitialized({ searchedFrom: globals.cwd }))
  return `${dir}/config.yaml`
})

export const configSet = Command.make(
  "set",
  { key: Args.text({ name: "key" }), value: Args.text({ name: "value" }) },
  ({ key, value }) =>
    Effect.gen(function*() {
      yield* refuseIfReadonly
      const file = yield* projectFile
      yield* setConfigValue(file, key, value)
      const { config } = yield* allEntries
      const shown = Option.match(config.get(key), { onNone: () => value, onSome: (entry) => entry.value })
      yield* emit(() => ({ key, value: shown, file, status: "set" }), () => `Set ${key} = ${shown} in ${file}`)
    })
).pipe(Command.withDescription("Set a value in the town's .beads/config.yaml (comments and order kept)"))

export const configUnset = Command.make("unset", { key: Args.text({ name: "key" }) }, ({ key }) =>
  Effect.gen(function*() {
    yield* refuseIfReadonly
    const file = yield* projectFile
    const removed = yield* unsetConfigValue(file, key)
    yield* emit(
      () => ({ key, file, status: removed ? "unset" : "not-set" }),
      () => (removed ? `Unset ${key} in ${file}` : `${key} was not set in ${file}`)
    )
  })).pipe(Command.withDescription("Remove a value from the town's .beads/config.yaml"))

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Show and change settings"),
  Command.withSubcommands([configList, configGet, configSet, configUnset])
)
