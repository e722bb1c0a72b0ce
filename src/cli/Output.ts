/**
 * Rendering: text for people, JSON for scripts (`--json`), and the mapping
 * of typed errors to messages, hints and exit codes. Errors go to stderr as
 * text; under `--json` an error is one JSON object on stdout, so a script
 * always reads one JSON document there, and checks the exit code.
 */
import { Console, Effect } from "effect"
import { ExitCode, isUserError, type UserError } from "../domain/Errors.js"
import { Globals } from "./Globals.js"
import type { Io } from "./Io.js"

/** Print a result: `json()` under `--json`, else `text()` lines. */
export const emit = (json: () => unknown, text: () => string | ReadonlyArray<string>) =>
  Effect.flatMap(Globals, (globals) => {
    if (globals.json) return Console.log(JSON.stringify(json()))
    const out = text()
    const lines = typeof out === "string" ? [out] : out
    return lines.length === 0 ? Effect.void : Console.log(lines.join("\n"))
  })

/** A warning for people (repairs, takeovers): always stderr, so JSON output stays clean. */
export const noticeOn = (io: Io) => (message: string): void => {
  io.err(`bd: ${message}\n`)
}

export interface RenderedError {
  readonly code: string
  readonly message: string
  readonly hint: string
  readonly exitCode: number
}

export const renderError = (error: unknown): RenderedError => {
  if (isUserError(error)) {
    const user = error as UserError
    return { code: user._tag, message: user.message, hint: user.hint, exitCode: user.exitCode }
  }
  const message = error instanceof Error ? error.message : String(error)
  return {
    code: "InternalError",
    message,
    hint: "this is a bug in bd; please report it with the command you ran",
    exitCode: ExitCode.internal
  }
}

export const printError = (rendered: RenderedError, json: boolean, io: Io): void => {
  if (json) {
    const { code, hint, message } = rendered
    io.out(`${JSON.stringify({ code, message, hint })}\n`)
  } else {
    io.err(`Error: ${rendered.message}\nHint: ${rendered.hint}\n`)
  }
}

/** Columns padded to the widest cell, for readable tables. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")
  return [line(header), ...rows.map(line)]
}
