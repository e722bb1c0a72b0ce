/** Trust store operations: pin, accept and revoke town keys (local events). */
import { Context, Effect, Either, Layer } from "effect"
import { InvalidArgument } from "../domain/Errors.js"
import { type TrustState } from "../domain/Trust.js"
import { EventLog, type LogError } from "../events/EventLog.js"
import { commandMeta, Session } from "./Session.js"

export interface TrustApi {
  readonly list: Effect.Effect<TrustState, LogError>
  /** Trust `key` for `town` (a key change accepted by a person). */
  readonly accept: (town: string, key: string) => Effect.Effect<void, InvalidArgument | LogError>
  /** Trust `key` for whichever town first presents it (add-peer --trust-key). */
  readonly pin: (key: string, peer: string) => Effect.Effect<void, InvalidArgument | LogError>
  /** Refuse `town`'s current key (or `key`) from now on. */
  readonly revoke: (town: string, key: string | undefined) => Effect.Effect<string, InvalidArgument | LogError>
}

export class TrustStore extends Context.Tag("beads/TrustStore")<TrustStore, TrustApi>() {}

/** An Ed25519 public key as bd prints it: base64 of its 44-byte DER (SPKI) form. */
export const checkKey = (key: string): Either.Either<string, InvalidArgument> =>
  key.startsWith("MCowBQYDK2VwAyEA") && Buffer.from(key, "base64").length === 44 &&
    Buffer.from(key, "base64").toString("base64") === key
    ? Either.right(key)
    : Either.left(new InvalidArgument({ argument: "key", value: key, allowed: "a town's public key as in its .beads/town.json (publicKey)" }))

export const TrustStoreLive: Layer.Layer<TrustStore, never, EventLog | Session> = Layer.effect(
  TrustStore,
  Effect.gen(function*() {
    const log = yield* EventLog
    const session = yield* Session
    const meta = Effect.provideService(commandMeta, Session, session)
    const append = (type: string, data: unknown) =>
      Effect.flatMap(meta, (m) => log.transact([], () => Either.right({ events: [{ type, data, ...m }], result: undefined })))
    return TrustStore.of({
      list: Effect.map(log.load(["trust"]), (loaded) => loaded.state.trust),
      accept: (town, key) =>
        Effect.flatMap(checkKey(key), () => Effect.asVoid(append("TrustKeyRecorded", { town, key, how: "accepted" }))),
      pin: (key, peer) => Effect.flatMap(checkKey(key), () => Effect.asVoid(append("TrustKeyPinned", { key, peer }))),
      revoke: (town, key) =>
        Effect.gen(function*() {
          const trust = (yield* log.load(["trust"])).state.trust
          const target = key ?? trust.towns[town]?.current?.key
          if (target === undefined) {
            return yield* Effect.fail(new InvalidArgument({ argument: "town", value: town, allowed: "a town with a trusted key (see: bd federation trust list)" }))
          }
          yield* checkKey(target)
          yield* append("TrustKeyRevoked", { town, key: target })
          return target
        })
    })
  })
)
