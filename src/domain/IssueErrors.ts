/**
 * Failures of the work-item commands. Bad values of a field (status,
 * priority, type, an empty title) reuse `InvalidArgument` from Errors.ts, so
 * the CLI maps them like every other bad argument.
 */
import { Schema } from "effect"
import { ExitCode } from "./Errors.js"

export { InvalidArgument } from "./Errors.js"

export class IssueNotFound extends Schema.TaggedError<IssueNotFound>()("IssueNotFound", {
  id: Schema.String
}) {
  override get message() {
    return `issue not found: ${this.id}`
  }
  readonly hint = "see the issues with: bd list"
  readonly exitCode = ExitCode.notFound
}

/** A line of a beads JSONL file that cannot be imported; the whole file is refused. */
export class ImportInvalid extends Schema.TaggedError<ImportInvalid>()("ImportInvalid", {
  file: Schema.String,
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot import ${this.file}, line ${this.line}: ${this.reason}`
  }
  get hint() {
    return `nothing was imported; fix line ${this.line} of ${this.file} and run the import again`
  }
  readonly exitCode = ExitCode.invalidInput
}
