// The floor of an import, run as its own process: read a beads JSONL file,
// JSON.parse every line and JSON.stringify it again. Prints the number of
// records and the bytes written back, so nothing can be optimised away.
import * as fs from "node:fs"

const text = fs.readFileSync(process.argv[2], "utf8")
let records = 0
let bytes = 0
for (let start = 0; start < text.length;) {
  let end = text.indexOf("\n", start)
  if (end === -1) end = text.length
  if (end > start) {
    bytes += JSON.stringify(JSON.parse(text.slice(start, end))).length
    records++
  }
  start = end + 1
}
process.stdout.write(`${records} ${bytes}\n`)
