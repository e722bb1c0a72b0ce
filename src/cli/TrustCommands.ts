/** `bd federation trust list | add | revoke`: which key speaks for which town. */
import { Args, Command } from "@effect/cli"
import { Effect, Option } from "effect"
import { TrustStore } from "../services/TrustStore.js"
import { emit, table } from "./Output.js"
import { inTown } from "./Runtime.js"

export const trustList = Command.make("list", {}, () =>
  inTown("bd federation trust list", Effect.gen(function*() {
    const trust = yield* (yield* TrustStore).list
    const towns = Object.entries(trust.towns).sort(([a], [b]) => (a < b ? -1 : 1))
    yield* emit(
      () => ({
        towns: towns.map(([town, t]) => ({ town, key: t.current?.key ?? null, how: t.current?.how ?? null, since: t.current?.at ?? null, revoked: t.revoked })),
        pinned: Object.entries(trust.pinned).map(([key, p]) => ({ key, peer: p.peer, at: p.at }))
      }),
      () => [
        ...(towns.length === 0
          ? ["No town keys recorded yet (the first pull from a peer records them)."]
          : table(
            ["TOWN", "KEY", "HOW", "SINCE", "REVOKED"],
            towns.map(([town, t]) => [town, t.current?.key ?? "-", t.current?.how ?? "-", t.current?.at ?? "-", String(t.revoked.length)])
          )),
        ...Object.entries(trust.pinned).map(([key, p]) => `pinned for peer ${p.peer}: ${key}`)
      ]
    )
  }))).pipe(Command.withDescription("List the keys trusted for each town, and pinned keys"))

export const trustAdd = Command.make(
  "add",
  { town: Args.text({ name: "town" }), key: Args.text({ name: "key" }) },
  ({ key, town }) =>
    inTown("bd federation trust add", Effect.gen(function*() {
      yield* (yield* TrustStore).accept(town, key)
      yield* emit(() => ({ town, key, status: "trusted" }), () => `Trusting town ${town} with key ${key}`)
    }))
).pipe(Command.withDescription("Trust a key for a town (for instance after it changed its key)"))

export const trustRevoke = Command.make(
  "revoke",
  { town: Args.text({ name: "town" }), key: Args.text({ name: "key" }).pipe(Args.optional) },
  ({ key, town }) =>
    inTown("bd federation trust revoke", Effect.gen(function*() {
      const revoked = yield* (yield* TrustStore).revoke(town, Option.getOrUndefined(key))
      yield* emit(() => ({ town, key: revoked, status: "revoked" }), () => `Revoked key ${revoked} of town ${town}`)
    }))
).pipe(Command.withDescription("Refuse a town's key from now on"))

export const trustCommand = Command.make("trust").pipe(
  Command.withDescription("The trust store: which key speaks for which town"),
  Command.withSubcommands([trustList, trustAdd, trustRevoke])
)
