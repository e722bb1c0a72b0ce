/**
 * The one place where a validated configuration becomes the Layer of its
 * sync mode. Services never ask which mode they run in: the mode decides
 * which implementations they get.
 *
 * | mode                | federation | projections after each command |
 * |---------------------|------------|--------------------------------|
 * | git-portable        | refused    | none (JSONL on bd export)      |
 * | realtime            | refused    | JSONL export                   |
 * | dolt-native         | live       | none                           |
 * | belt-and-suspenders | live       | JSONL backup                   |
 */
import { Layer } from "effect"
import { DoltBackendRequired, FederationNotEnabled } from "../domain/Errors.js"
import { federationEnabled, type SyncMode } from "../domain/Settings.js"
import type { EventLog } from "../events/EventLog.js"
import { Federation, FederationLive, FederationRefused } from "../services/Federation.js"
import type { Session } from "../services/Session.js"
import type { ConfigService } from "./Config.js"
import type { Credentials } from "./Credentials.js"

/** Federation as the mode and backend allow it. */
const federationFor = (
  mode: SyncMode,
  backend: string | undefined
): Layer.Layer<Federation, never, EventLog | Credentials | Session> => {
  if (!federationEnabled(mode)) {
    return FederationRefused((command) => new FederationNotEnabled({ mode, command }))
  }
  if (backend === "sqlite") {
    return FederationRefused(() =>
      new DoltBackendRequired({ backend, reason: "the SQLite backend of older beads setups cannot federate" })
    )
  }
  return FederationLive
}

export type ModeServices = Federation

/** The services whose implementation depends on the sync mode. */
export const layerForMode = (
  config: Pick<ConfigService, "syncMode" | "storageBackend">
): Layer.Layer<ModeServices, never, EventLog | Credentials | Session> =>
  federationFor(config.syncMode, config.storageBackend)
