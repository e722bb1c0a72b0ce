/** Process entry of the bundled `bd`: run, flush, exit with the command's code. */
import { main } from "./main.js"

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`bd: internal error: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 1
  }
)
