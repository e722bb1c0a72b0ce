/**
 * The one place where a validated configuration becomes the Layer of its
 * sync mode. Services never ask which mode they run in: the mode decides
 * which implementations they get.
 *
 * | mode                | federation | projections after each command      |
 * |---------------------|------------|-------------------------------------|
 * | git-portable        | refused    | none (JSONL on bd export / bd sync) |
 * | realtime            | refused    | JSONL export (.beads/issues.jsonl)  |
 * | dolt-native         | live       | Dolt SQL projection (with dolt.url) |
 * | belt-and-suspenders | live       | JSONL backup (.beads/backup/), and  |
 * |                     |            | Dolt SQL projection (with dolt.url) |
 */
import { Layer } from "effect"
import * as path from "node:path"
import { DoltBackendRequired, FederationNotEnabled } from "../domain/Errors.js"
import { federationEnabled, type StorageBackend, type SyncMode } from "../domain/Settings.js"
import type { EventLog } from "../events/EventLog.js"
import type { Projection } from "../events/Projection.js"
import { Federation, FederationLive, FederationRefused } from "../services/Federation.js"
import type { Session } from "../services/Session.js"
import type { Credentials } from "./Credentials.js"
import { doltProjectionFor } from "./DoltProjection.js"
import type { DoltTarget } from "./DoltSql.js"
import { FileEventLogLive, type FileEventLogOptions } from "./FileEventLog.js"
import { BackupProjection, JsonlExportProjection } from "./JsonlFiles.js"

export interface ModeInput {
  readonly mode: SyncMode
  readonly backend: StorageBackend | undefined
  readonly beadsDir: string
  /** The event log's options, less the projections, which the mode chooses. */
  readonly log: Omit<FileEventLogOptions, "projections">
  /** The SQL server of the Dolt projection (`dolt.url`), when one is configured. */
  readonly dolt?: DoltTarget | undefined
}

/** The Dolt projection's server and the town it projects. */
export interface DoltWiring {
  readonly target: DoltTarget
  readonly town: string
}

/** Federation as the mode and backend allow it. */
const federationFor = (
  mode: SyncMode,
  backend: StorageBackend | undefined
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

/** Whether a mode keeps the Dolt SQL projection (when dolt.url is set). */
export const wiresDoltProjection = (mode: SyncMode): boolean => mode === "dolt-native" || mode === "belt-and-suspenders"

/** What each mode projects after every committed command. */
export const projectionsFor = (mode: SyncMode, beadsDir: string, dolt?: DoltWiring): ReadonlyArray<Projection> => {
  const sql = dolt === undefined || !wiresDoltProjection(mode) ? [] : [doltProjectionFor(dolt.target, dolt.town, beadsDir)]
  switch (mode) {
    case "git-portable":
      return []
    case "dolt-native":
      return sql
    case "realtime":
      return [JsonlExportProjection(path.join(beadsDir, "issues.jsonl"))]
    case "belt-and-suspenders":
      return [BackupProjection(path.join(beadsDir, "backup")), ...sql]
  }
}

export type ModeServices = EventLog | Federation

/** The services whose implementation depends on the sync mode. */
export const layerForMode = (input: ModeInput): Layer.Layer<ModeServices, never, Credentials | Session> => {
  const dolt = input.dolt === undefined ? undefined : { target: input.dolt, town: input.log.town }
  const log = FileEventLogLive({ ...input.log, projections: projectionsFor(input.mode, input.beadsDir, dolt) })
  return Layer.provideMerge(federationFor(input.mode, input.backend), log)
}
