/**
 * The programmatic API of beads federation: the domain (pure values,
 * deciders, errors), the event log contract, the services, and the layers
 * that implement them, including the per-mode compositions.
 */

/** Typed failures, each with message, hint and exit code. */
export * from "./domain/Errors.js"
/** Peer names and endpoints as the seed defines them. */
export * from "./domain/PeerName.js"
export * from "./domain/Endpoint.js"
/** Sovereignty tiers, sync modes, conflict strategies, storage backends. */
export * from "./domain/Settings.js"
/** Who is acting: the beads resolution order. */
export * from "./domain/Actor.js"
/** The peers decider: commands AddPeer/RemovePeer -> events PeerAdded/PeerRemoved. */
export * as FederationDecider from "./domain/Federation.js"
/** The logical clock slice (Lamport counter and version vector). */
export * from "./domain/Clock.js"
/** The folded town state and its slices. */
export * from "./domain/Town.js"
/** Points of the log named by auditors. */
export * from "./domain/LogPoint.js"
/** Known configuration keys and their validation. */
export * from "./domain/ConfigKeys.js"

/** The envelope, canonical JSON, the hash chain and the EventLog service tag. */
export * from "./events/Envelope.js"
export * from "./events/Canonical.js"
export * from "./events/Chain.js"
export * from "./events/EventLog.js"
export * from "./events/Slice.js"

/** Services: federation (peers), audit, the session of a command. */
export * from "./services/Federation.js"
export * from "./services/Audit.js"
export * from "./services/Session.js"

/** Layers: configuration, the file event log, town discovery, credentials, and the mode compositions. */
export * from "./layers/Config.js"
export * from "./layers/FileEventLog.js"
export * from "./layers/Town.js"
export * from "./layers/Credentials.js"
export * from "./layers/modes.js"
