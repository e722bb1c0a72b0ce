/**
 * Vitest global setup: after the whole suite, stop the bd daemon that the
 * suite's `bd` processes started for this build (wherever their
 * environments put its socket), so that no process outlives the run.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { askDaemon, daemonSocketFor } from "../../src/cli/DaemonClient.js"

const BUNDLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "bd-main.cjs")

export default function setup(): () => Promise<void> {
  return async () => {
    const { BD_DAEMON_DIR, PATH, TMPDIR, XDG_RUNTIME_DIR } = process.env
    const places = [{ BD_DAEMON_DIR }, { XDG_RUNTIME_DIR }, { TMPDIR }, {}].map((where) => daemonSocketFor(BUNDLE, { PATH, ...where }))
    for (const socket of new Set(places)) {
      if (socket !== undefined) await askDaemon(socket, { stop: true }, () => true)
    }
  }
}
