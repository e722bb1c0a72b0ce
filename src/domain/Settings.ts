/** Small enumerations of the seed: sovereignty tiers, sync modes, conflict strategies, backends. */
import { Either, Schema } from "effect"
import { InvalidArgument } from "./Errors.js"

export const SovereigntyTiers = ["T1", "T2", "T3", "T4"] as const
export const SovereigntyTier = Schema.Literal(...SovereigntyTiers)
export type SovereigntyTier = typeof SovereigntyTier.Type

/** Input is case-insensitive ("t2"); the stored form is upper-case. */
export const parseTier = (text: string): Either.Either<SovereigntyTier, InvalidArgument> => {
  const upper = text.trim().toUpperCase()
  return (SovereigntyTiers as ReadonlyArray<string>).includes(upper)
    ? Either.right(upper as SovereigntyTier)
    : Either.left(new InvalidArgument({ argument: "sovereignty tier", value: text, allowed: "T1, T2, T3 or T4" }))
}

export const SyncModes = ["git-portable", "realtime", "dolt-native", "belt-and-suspenders"] as const
export const SyncMode = Schema.Literal(...SyncModes)
export type SyncMode = typeof SyncMode.Type

/** Modes in which federation commands run (seed: "Federation Support"). */
export const federationEnabled = (mode: SyncMode): boolean =>
  mode === "dolt-native" || mode === "belt-and-suspenders"

export const ConflictStrategies = ["ours", "theirs"] as const
export const ConflictStrategy = Schema.Literal(...ConflictStrategies)
export type ConflictStrategy = typeof ConflictStrategy.Type

/** `dolt` and `embedded` carry federation; `sqlite` is the older beads backend. */
export const StorageBackends = ["dolt", "embedded", "sqlite"] as const
export const StorageBackend = Schema.Literal(...StorageBackends)
export type StorageBackend = typeof StorageBackend.Type
