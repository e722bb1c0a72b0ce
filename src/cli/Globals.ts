/**
 * What a command runs with besides its own arguments: the global flags
 * (taken out of argv by src/cli/GlobalFlags.ts) and the run's directory,
 * environment and output, through the Globals tag.
 */
import { Context } from "effect"
import type { Io } from "./Io.js"

export interface GlobalFlags {
  readonly json: boolean
  readonly db: string | undefined
  readonly actor: string | undefined
  readonly readonly: boolean
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  readonly io: Io
}

export class Globals extends Context.Tag("beads/Globals")<Globals, GlobalFlags>() {}
