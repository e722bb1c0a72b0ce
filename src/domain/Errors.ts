/**
 * Every failure a user can cause, as tagged data. Each error carries a
 * message (what went wrong), a hint (what to do next) and an exit code, so
 * the CLI can print it, serialise it under `--json`, and exit with a
 * documented status without ever showing a stack trace.
 */
import { Schema } from "effect"

/** Exit codes, one per family of failure (documented in docs/CLI.md). */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  invalidInput: 4,
  alreadyExists: 5,
  notFound: 6,
  federationNotEnabled: 7,
  doltBackendRequired: 8,
  directAccess: 9,
  integrity: 10,
  remoteUnreachable: 11,
  remoteRejected: 12,
  conflictsPending: 13,
  sovereignty: 14,
  credentials: 15,
  notInitialized: 16
} as const

/** The shape every user-facing error shares. */
export interface UserError {
  readonly _tag: string
  readonly message: string
  readonly hint: string
  readonly exitCode: number
}

export const isUserError = (u: unknown): u is UserError =>
  typeof u === "object" && u !== null && "_tag" in u && "hint" in u && "exitCode" in u

export class InvalidPeerName extends Schema.TaggedError<InvalidPeerName>()("InvalidPeerName", {
  name: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid peer name ${JSON.stringify(this.name)}: ${this.reason}`
  }
  readonly hint =
    "a peer name starts with a letter, has only letters, digits, '-' and '_', is at most 64 characters, and is not origin, main, master or HEAD"
  readonly exitCode = ExitCode.invalidInput
}

export const ACCEPTED_SCHEMES =
  "dolthub://, gs://, s3://, file://, https://, ssh://, or git SSH format (git@host:path)"

export class InvalidEndpoint extends Schema.TaggedError<InvalidEndpoint>()("InvalidEndpoint", {
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid endpoint format ${JSON.stringify(this.endpoint)}: ${this.reason}`
  }
  readonly hint = `the scheme must be one of: ${ACCEPTED_SCHEMES}`
  readonly exitCode = ExitCode.invalidInput
}

/** A value given on the command line that is outside what the command takes. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  argument: Schema.String,
  value: Schema.String,
  allowed: Schema.String
}) {
  override get message() {
    return `invalid ${this.argument} ${JSON.stringify(this.value)}: expected ${this.allowed}`
  }
  get hint() {
    return `give ${this.argument} as ${this.allowed}`
  }
  readonly exitCode = ExitCode.invalidInput
}

export class PeerAlreadyExists extends Schema.TaggedError<PeerAlreadyExists>()("PeerAlreadyExists", {
  name: Schema.String
}) {
  override get message() {
    return `peer already exists: ${this.name}`
  }
  readonly hint = "use a different name, or check existing peers with: bd config list | grep federation.peers"
  readonly exitCode = ExitCode.alreadyExists
}

export class PeerNotFound extends Schema.TaggedError<PeerNotFound>()("PeerNotFound", {
  name: Schema.String
}) {
  override get message() {
    return `peer not found: ${this.name}`
  }
  readonly hint = "see the configured peers with: bd federation list-peers"
  readonly exitCode = ExitCode.notFound
}

export class FederationNotEnabled extends Schema.TaggedError<FederationNotEnabled>()("FederationNotEnabled", {
  mode: Schema.String,
  command: Schema.String
}) {
  override get message() {
    return `${this.command} needs federation, which sync mode ${this.mode} does not support`
  }
  readonly hint = "enable it with: bd config set sync.mode dolt-native   (or belt-and-suspenders)"
  readonly exitCode = ExitCode.federationNotEnabled
}

export class DoltBackendRequired extends Schema.TaggedError<DoltBackendRequired>()("DoltBackendRequired", {
  backend: Schema.String,
  reason: Schema.String,
  /** What to do instead of the storage-backend advice (a Dolt peer needs a Dolt server, not a backend setting). */
  advice: Schema.optional(Schema.String)
}) {
  override get message() {
    return this.backend === ""
      ? `federation requires the Dolt backend: ${this.reason}`
      : `federation requires the Dolt storage backend (${this.reason}; storage.backend is ${this.backend})`
  }
  get hint() {
    return this.advice ?? "set it with: bd config set storage.backend dolt   (and dolt.url for a Dolt SQL server)"
  }
  readonly exitCode = ExitCode.doltBackendRequired
}

export class RequiresDirectDatabaseAccess extends Schema.TaggedError<RequiresDirectDatabaseAccess>()(
  "RequiresDirectDatabaseAccess",
  { reason: Schema.String, hintText: Schema.String }
) {
  override get message() {
    return `this command requires direct database access: ${this.reason}`
  }
  get hint() {
    return this.hintText
  }
  readonly exitCode = ExitCode.directAccess
}

export class ConfigInvalid extends Schema.TaggedError<ConfigInvalid>()("ConfigInvalid", {
  source: Schema.String,
  key: Schema.String,
  value: Schema.String,
  allowed: Schema.String
}) {
  override get message() {
    return this.key === ""
      ? `invalid configuration in ${this.source}: ${this.allowed}`
      : `invalid configuration in ${this.source}: ${this.key} = ${JSON.stringify(this.value)} (allowed: ${this.allowed})`
  }
  get hint() {
    return this.key === ""
      ? `fix ${this.source}`
      : `fix ${this.key} in ${this.source}, or see: bd config list`
  }
  readonly exitCode = ExitCode.config
}

export class IntegrityError extends Schema.TaggedError<IntegrityError>()("IntegrityError", {
  file: Schema.String,
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `integrity check failed at ${this.file}${this.line > 0 ? `:${this.line}` : ""}: ${this.reason}`
  }
  get hint() {
    return this.file.includes("refs/beads/")
      ? "nothing of that branch was ingested; ask the operator of that endpoint what rewrote it (bd federation status shows every peer)"
      : "the log was changed outside bd; restore .beads/log from a backup or a peer, then run: bd federation verify"
  }
  readonly exitCode = ExitCode.integrity
}

export class NotInitialized extends Schema.TaggedError<NotInitialized>()("NotInitialized", {
  searchedFrom: Schema.String
}) {
  override get message() {
    return `no beads town found in ${this.searchedFrom} or any parent directory`
  }
  readonly hint = "create one with: bd init   (or point at one with --db DIR or BD_DIR)"
  readonly exitCode = ExitCode.notInitialized
}

export class CredentialsError extends Schema.TaggedError<CredentialsError>()("CredentialsError", {
  reason: Schema.String
}) {
  override get message() {
    return `credentials: ${this.reason}`
  }
  readonly hint = "give the password with --password, or run the command on a terminal to be prompted"
  readonly exitCode = ExitCode.credentials
}

/** An IO failure of the machine (disk full, permissions changed under us). */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot access ${this.path}: ${this.reason}`
  }
  readonly hint = "check that the path exists, is writable and that the disk is not full"
  readonly exitCode = ExitCode.internal
}

/** Errors of the foundation, for exhaustive mapping at the CLI edge. */
export type FederationError =
  | InvalidPeerName
  | InvalidEndpoint
  | InvalidArgument
  | PeerAlreadyExists
  | PeerNotFound
  | FederationNotEnabled
  | DoltBackendRequired
  | RequiresDirectDatabaseAccess
  | ConfigInvalid
  | IntegrityError
  | NotInitialized
  | CredentialsError
  | StorageError

export class ConfigKeyNotSet extends Schema.TaggedError<ConfigKeyNotSet>()("ConfigKeyNotSet", {
  key: Schema.String
}) {
  override get message() {
    return `${this.key} is not set`
  }
  readonly hint = "see every effective setting with: bd config list"
  readonly exitCode = ExitCode.notFound
}

export class RemoteUnreachable extends Schema.TaggedError<RemoteUnreachable>()("RemoteUnreachable", {
  peer: Schema.String,
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `peer ${this.peer} (${this.endpoint}) is unreachable: ${this.reason}`
  }
  readonly hint = "check the endpoint, the network and the credentials (bd federation status shows every peer)"
  readonly exitCode = ExitCode.remoteUnreachable
}

export class RemoteRejected extends Schema.TaggedError<RemoteRejected>()("RemoteRejected", {
  peer: Schema.String,
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `peer ${this.peer} (${this.endpoint}) rejected the push: ${this.reason}`
  }
  readonly hint = "pull first (bd federation pull), then push again; towns never force-push"
  readonly exitCode = ExitCode.remoteRejected
}

export class ConflictsPending extends Schema.TaggedError<ConflictsPending>()("ConflictsPending", {
  count: Schema.Number,
  /** Already part of the printed result (under --json, the one result document). */
  reported: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  override get message() {
    return `${this.count} conflict(s) remain open`
  }
  readonly hint = "see them with: bd federation conflicts; close them with: bd federation resolve ID --ours|--theirs|--value V (or sync --strategy)"
  readonly exitCode = ExitCode.conflictsPending
}

export class ConflictNotFound extends Schema.TaggedError<ConflictNotFound>()("ConflictNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `no open conflict ${this.id}`
  }
  readonly hint = "see the open conflicts with: bd federation conflicts"
  readonly exitCode = ExitCode.notFound
}

/** A batch from a peer that cannot be ingested: it fails verification. Nothing of it is kept. */
export class BatchRefused extends Schema.TaggedError<BatchRefused>()("BatchRefused", {
  peer: Schema.String,
  town: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `refused a batch of town ${this.town} from peer ${this.peer}: ${this.reason}`
  }
  readonly hint = "nothing of that batch was ingested; ask the peer's operator to check their endpoint (bd federation verify)"
  readonly exitCode = ExitCode.integrity
}

/**
 * Some peers of a multi-peer operation failed (each was reported as it
 * happened); the exit code is the first failure's.
 */
export class PeersFailed extends Schema.TaggedError<PeersFailed>()("PeersFailed", {
  failed: Schema.Number,
  total: Schema.Number,
  code: Schema.Number,
  /** The failures were already printed (under --json, in the one result document). */
  reported: Schema.Boolean
}) {
  override get message() {
    return `${this.failed} of ${this.total} peer(s) failed`
  }
  readonly hint = "see the errors above; bd federation status shows every peer"
  get exitCode() {
    return this.code
  }
}

export class SovereigntyViolation extends Schema.TaggedError<SovereigntyViolation>()("SovereigntyViolation", {
  peer: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `sovereignty: nothing was published to peer ${this.peer}: ${this.reason}`
  }
  readonly hint =
    "T2 data goes only to peers of the same organization: set federation.organization, and give the peer's with add-peer --organization (or choose another tier)"
  readonly exitCode = ExitCode.sovereignty
}
