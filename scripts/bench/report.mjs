// Figures, the table printed at the end, and the JSON kept under bench/results/.
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { median, round } from "./stats.mjs"

/**
 * One measured figure: a subject against its baseline, each the median of
 * its samples. `better` says which way the ratio improves; `target` is the
 * ratio to reach (or null when the figure is for information).
 */
const figure = ({ id, title, baseline, subject, ratio, definition, better, target, note }) => {
  const met = target === null || !Number.isFinite(ratio) ? null : better === "lower" ? ratio <= target : ratio >= target
  return { id, title, baseline, subject, ratio: round(ratio, 3), definition, better, target, met, ...(note ? { note } : {}) }
}

const side = (label, unit, samples) => ({ label, unit, median: round(median(samples), 3), samples: samples.map((s) => round(s, 3)) })

/** Wall times: ratio = subject / baseline, lower is better. */
export const timeFigure = ({ id, title, baselineLabel, subjectLabel, baseline, subject, target = null, note }) =>
  figure({
    id,
    title,
    baseline: side(baselineLabel, "ms", baseline),
    subject: side(subjectLabel, "ms", subject),
    ratio: median(subject) / median(baseline),
    definition: "median subject time / median baseline time",
    better: "lower",
    target,
    note
  })

/** Wall times where the baseline is the floor: ratio = baseline / subject, higher is better. */
export const speedFigure = ({ id, title, baselineLabel, subjectLabel, baseline, subject, target = null, note }) =>
  figure({
    id,
    title,
    baseline: side(baselineLabel, "ms", baseline),
    subject: side(subjectLabel, "ms", subject),
    ratio: median(baseline) / median(subject),
    definition: "median baseline time / median subject time",
    better: "higher",
    target,
    note
  })

/** Throughputs (things per second): ratio = subject / baseline, higher is better. */
export const throughputFigure = ({ id, title, unit, baselineLabel, subjectLabel, baseline, subject, target = null, note }) =>
  figure({
    id,
    title,
    baseline: side(baselineLabel, unit, baseline),
    subject: side(subjectLabel, unit, subject),
    ratio: median(subject) / median(baseline),
    definition: `median subject ${unit} / median baseline ${unit}`,
    better: "higher",
    target,
    note
  })

const grouped = (n) => Math.round(n).toLocaleString("en-US")

const showValue = ({ median: value, unit }) => {
  if (!Number.isFinite(value)) return "-"
  if (unit === "ms") return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value >= 100 ? 0 : 1)} ms`
  return `${grouped(value)} ${unit}`
}

const showTarget = (f) => (f.target === null ? "(info)" : `${f.better === "lower" ? "<=" : ">="} ${f.target}`)
const showMet = (f) => (f.met === null ? "-" : f.met ? "met" : "NOT MET")

const pad = (text, width) => text + " ".repeat(Math.max(0, width - text.length))

export const renderTable = (figures, failures) => {
  const rows = [
    ["#", "benchmark", "baseline (median)", "subject (median)", "ratio", "target", "result"],
    ...figures.map((f) => [
      f.id,
      f.title,
      `${f.baseline.label}: ${showValue(f.baseline)}`,
      `${f.subject.label}: ${showValue(f.subject)}`,
      Number.isFinite(f.ratio) ? f.ratio.toFixed(3) : "-",
      showTarget(f),
      showMet(f)
    ]),
    ...failures.map((failure) => [failure.id, failure.title, "-", "-", "-", "-", "CRASHED"])
  ]
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  const line = (row) => row.map((cell, column) => pad(cell, widths[column])).join("  ").trimEnd()
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n")
}

export const machine = () => {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${os.release()} ${process.arch}`
  }
}

/** `2025-01-31T09-30-00Z.json`: the ISO time, with `-` for `:` so every file system takes the name. */
export const resultFileName = (date) => `${date.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/:/g, "-")}.json`

export const writeResults = (resultsDir, date, report) => {
  fs.mkdirSync(resultsDir, { recursive: true })
  const text = `${JSON.stringify(report, null, 2)}\n`
  const file = path.join(resultsDir, resultFileName(date))
  fs.writeFileSync(file, text)
  fs.writeFileSync(path.join(resultsDir, "latest.json"), text)
  return file
}
