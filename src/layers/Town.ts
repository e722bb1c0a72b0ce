/**
 * Finding and creating a town's `.beads` directory. A town is a `.beads`
 * directory holding `town.json` (id, name: nothing secret), `config.yaml`,
 * and the event log under `log/`.
 */
import { Context, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { NotInitialized, StorageError } from "../domain/Errors.js"

export interface TownInfo {
  readonly beadsDir: string
  readonly townId: string
  readonly name: string
  readonly createdAt: string
}

export class Town extends Context.Tag("beads/Town")<Town, TownInfo>() {}

export const TOWN_FILE = "town.json"

const isTownDir = (dir: string): boolean => fs.existsSync(path.join(dir, TOWN_FILE))

/**
 * The `.beads` directory to use: `--db DIR` / `BD_DIR` (the `.beads` directory
 * itself, or a directory containing one), else the nearest `.beads` walking up from cwd.
 */
export const locateBeadsDir = (cwd: string, override: string | undefined): string | undefined => {
  if (override !== undefined && override !== "") {
    const dir = path.resolve(cwd, override)
    if (isTownDir(dir)) return dir
    if (isTownDir(path.join(dir, ".beads"))) return path.join(dir, ".beads")
    return undefined
  }
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (isTownDir(path.join(dir, ".beads"))) return path.join(dir, ".beads")
    if (path.dirname(dir) === dir) return undefined
  }
}

/** Where `bd init` creates a town: `--db DIR` as given (a `.beads` dir, or a project dir), else `<cwd>/.beads`. */
export const initTarget = (cwd: string, override: string | undefined): string => {
  if (override === undefined || override === "") return path.join(path.resolve(cwd), ".beads")
  const dir = path.resolve(cwd, override)
  return path.basename(dir) === ".beads" ? dir : path.join(dir, ".beads")
}

const readTownFile = (beadsDir: string): TownInfo => {
  const json = JSON.parse(fs.readFileSync(path.join(beadsDir, TOWN_FILE), "utf8")) as Partial<TownInfo>
  if (typeof json.townId !== "string" || !/^[0-9a-f]{16}$/.test(json.townId)) throw new Error("town.json has no valid townId")
  return { beadsDir, townId: json.townId, name: String(json.name ?? ""), createdAt: String(json.createdAt ?? "") }
}

export const readTown = (beadsDir: string): Effect.Effect<TownInfo, StorageError> =>
  Effect.try({
    try: () => readTownFile(beadsDir),
    catch: (error) => new StorageError({ path: path.join(beadsDir, TOWN_FILE), reason: (error as Error).message })
  })

export const TownLive = (cwd: string, override: string | undefined): Layer.Layer<Town, NotInitialized | StorageError> =>
  Layer.effect(
    Town,
    Effect.suspend((): Effect.Effect<TownInfo, NotInitialized | StorageError> => {
      const dir = locateBeadsDir(cwd, override)
      return dir === undefined
        ? Effect.fail(new NotInitialized({ searchedFrom: override ? path.resolve(cwd, override) : path.resolve(cwd) }))
        : readTown(dir)
    })
  )

export interface InitResult {
  readonly town: TownInfo
  readonly created: ReadonlyArray<string>
  readonly existed: boolean
}

const GITIGNORE = `# bd: local state that is not shared through git
log/
federation/
backup/
*.tmp
`

const writeIfMissing = (file: string, content: string, created: Array<string>): void => {
  try {
    fs.writeFileSync(file, content, { flag: "wx" })
    created.push(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
}

/**
 * Create a town, or complete one that exists: nothing that is already there
 * is overwritten, so running it again is harmless.
 */
export const initTown = (
  beadsDir: string,
  options: { readonly name: string | undefined; readonly prefix: string | undefined; readonly now: string }
): Effect.Effect<InitResult, StorageError> =>
  Effect.try({
    try: () => {
      const created: Array<string> = []
      const existed = isTownDir(beadsDir)
      fs.mkdirSync(path.join(beadsDir, "log"), { recursive: true })
      const townId = randomBytes(8).toString("hex")
      const name = options.name ?? path.basename(path.dirname(beadsDir))
      writeIfMissing(
        path.join(beadsDir, TOWN_FILE),
        `${JSON.stringify({ townId, name, createdAt: options.now }, null, 2)}\n`,
        created
      )
      const prefixLine = options.prefix === undefined ? "" : `issue_prefix: ${options.prefix}\n`
      writeIfMissing(
        path.join(beadsDir, "config.yaml"),
        `# beads configuration (see: bd config list)\nsync:\n  mode: git-portable\n${prefixLine}`,
        created
      )
      writeIfMissing(path.join(beadsDir, ".gitignore"), GITIGNORE, created)
      return { town: readTownFile(beadsDir), created, existed }
    },
    catch: (error) => new StorageError({ path: beadsDir, reason: (error as Error).message })
  })
