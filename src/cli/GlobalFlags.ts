/**
 * Global flags (`--json`, `--db DIR`, `--actor NAME`, `--readonly`) are
 * accepted anywhere before a `--`, as in beads (`bd --json federation
 * add-peer …` and `bd federation list-peers --json` alike). They are taken
 * out of argv before @effect/cli parses the command. This module is plain
 * TypeScript: the daemon client (bundled without Effect) uses it too.
 */

const VALUED = new Set(["--db", "--actor"])
const BOOLEAN = new Set(["--json", "--readonly"])

export interface SplitArgs {
  readonly flags: { json: boolean; db: string | undefined; actor: string | undefined; readonly: boolean }
  readonly rest: ReadonlyArray<string>
  readonly missingValue: string | undefined
}

/** Separate global flags from the command's own arguments. */
export const splitGlobalFlags = (args: ReadonlyArray<string>): SplitArgs => {
  const flags = { json: false, db: undefined as string | undefined, actor: undefined as string | undefined, readonly: false }
  const rest: Array<string> = []
  let missingValue: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      rest.push(...args.slice(i))
      break
    }
    const eq = arg.indexOf("=")
    const name = eq > 0 ? arg.slice(0, eq) : arg
    if (BOOLEAN.has(name) && eq < 0) {
      if (name === "--json") flags.json = true
      else flags.readonly = true
    } else if (VALUED.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i]
      if (value === undefined) missingValue = name
      else if (name === "--db") flags.db = value
      else flags.actor = value
    } else {
      rest.push(arg)
    }
  }
  return { flags, rest, missingValue }
}
