/** `bd federation add-peer | remove-peer | list-peers`. */
import { Args, Command, Options, Prompt } from "@effect/cli"
import { Effect, Option, Redacted } from "effect"
import { CredentialsError } from "../domain/Errors.js"
import type { Peer } from "../domain/Federation.js"
import { Federation } from "../services/Federation.js"
import { checkKey, TrustStore } from "../services/TrustStore.js"
import { emit, table } from "./Output.js"
import { inTown } from "./Runtime.js"

const peerJson = (peer: Peer, status?: string) => ({
  name: peer.name,
  endpoint: peer.endpoint,
  ...(peer.sovereignty === undefined ? {} : { sovereignty: peer.sovereignty }),
  ...(peer.organization === undefined ? {} : { organization: peer.organization }),
  ...(peer.learnedOrganization === undefined ? {} : { learnedOrganization: peer.learnedOrganization }),
  ...(peer.via === undefined ? {} : { via: peer.via }),
  ...(status === undefined ? { credentials: peer.hasCredentials, addedAt: peer.addedAt, addedBy: peer.addedBy } : { status })
})

/** The password: from --password, else asked without echo on a terminal, else refused. */
const passwordFor = (peer: string, given: Option.Option<string>) =>
  Option.match(given, {
    onSome: Effect.succeed,
    onNone: () =>
      process.stdin.isTTY
        ? Effect.map(Prompt.run(Prompt.password({ message: `Password for peer ${peer}` })), Redacted.value).pipe(
          Effect.catchAll(() => Effect.fail(new CredentialsError({ reason: "no password was entered" })))
        )
        : Effect.fail(new CredentialsError({ reason: "--user needs --password when standard input is not a terminal" }))
  })

export const addPeer = Command.make(
  "add-peer",
  {
    name: Args.text({ name: "name" }),
    endpoint: Args.text({ name: "endpoint" }),
    sovereignty: Options.text("sovereignty").pipe(Options.optional, Options.withDescription("T1, T2, T3 or T4")),
    user: Options.text("user").pipe(Options.optional, Options.withDescription("user name for the endpoint")),
    password: Options.text("password").pipe(Options.optional, Options.withDescription("password (prompted when omitted)")),
    organization: Options.text("organization").pipe(Options.optional, Options.withDescription("the peer's organization (for tier T2)")),
    via: Options.text("via").pipe(
      Options.optional,
      Options.withDescription("dolt: move events through the Dolt server of dolt.url, whatever the endpoint")
    ),
    trustKey: Options.text("trust-key").pipe(Options.optional, Options.withDescription("pin the public key the peer's town signs with"))
  },
  ({ endpoint, name, organization, password, sovereignty, trustKey, user, via }) =>
    inTown("bd federation add-peer", Effect.gen(function*() {
      const federation = yield* Federation
      if (Option.isSome(trustKey)) yield* checkKey(trustKey.value)
      const credentials = Option.isSome(user)
        ? { user: user.value, password: yield* passwordFor(name, password) }
        : undefined
      if (credentials === undefined && Option.isSome(password)) {
        return yield* Effect.fail(new CredentialsError({ reason: "--password needs --user" }))
      }
      const peer = yield* federation.addPeer({
        name,
        endpoint,
        sovereignty: Option.getOrUndefined(sovereignty),
        organization: Option.getOrUndefined(organization),
        via: Option.getOrUndefined(via),
        credentials
      })
      if (Option.isSome(trustKey)) yield* (yield* TrustStore).pin(trustKey.value, peer.name)
      yield* emit(
        () => peerJson(peer, "added"),
        () =>
          `Added peer ${peer.name} (${peer.endpoint})${peer.sovereignty ? `, sovereignty ${peer.sovereignty}` : ""}${
            peer.via === undefined ? "" : `, via ${peer.via}`
          }`
      )
    }))
).pipe(Command.withDescription("Register a federation peer (connectivity is checked on first push/pull)"))

export const removePeer = Command.make(
  "remove-peer",
  { name: Args.text({ name: "name" }) },
  ({ name }) =>
    inTown("bd federation remove-peer", Effect.gen(function*() {
      const peer = yield* (yield* Federation).removePeer(name)
      yield* emit(() => peerJson(peer, "removed"), () => `Removed peer ${peer.name} (${peer.endpoint})`)
    }))
).pipe(Command.withDescription("Remove a federation peer and its stored credentials"))

export const listPeers = Command.make("list-peers", {}, () =>
  inTown("bd federation list-peers", Effect.gen(function*() {
    const peers = yield* (yield* Federation).listPeers
    yield* emit(
      () => peers.map((peer) => peerJson(peer)),
      () =>
        peers.length === 0
          ? "No peers configured. Add one with: bd federation add-peer NAME ENDPOINT"
          : table(
            ["NAME", "ENDPOINT", "SOVEREIGNTY", "CREDENTIALS"],
            peers.map((peer) => [peer.name, peer.endpoint, peer.sovereignty ?? "-", peer.hasCredentials ? "stored" : "-"])
          )
    )
  }))).pipe(Command.withDescription("List the configured federation peers"))
