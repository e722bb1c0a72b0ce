/** `bd daemon status | stop`: the background process that runs read commands and `bd import` (src/cli/Daemon.ts). */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { askDaemon, type DaemonStatus } from "./DaemonClient.js"
import { Globals } from "./Globals.js"
import { emit } from "./Output.js"

const OFF = "No daemon for this bd: BD_NO_DAEMON is set, or there is no directory private to this user for its socket."

const statusOf = (socket: string) =>
  Effect.promise(async () => {
    let status: DaemonStatus | undefined
    await askDaemon(socket, { status: true }, (message) => {
      if ("status" in message) status = message.status
      return true
    })
    return status
  })

export const daemonStatus = Command.make("status", {}, () =>
  Effect.gen(function*() {
    const socket = (yield* Globals).io.daemonSocket
    const status = socket === undefined ? undefined : yield* statusOf(socket)
    yield* emit(
      () => (status === undefined ? { running: false, socket: socket ?? null } : { running: true, ...status }),
      () =>
        socket === undefined
          ? OFF
          : status === undefined
          ? `The daemon is not running (the next command starts it): ${socket}`
          : `The daemon is running: pid ${status.pid}, ${status.served} commands served since ${status.since}\nSocket: ${status.socket}`
    )
  })).pipe(Command.withDescription("Whether the daemon runs, and what it has served"))

export const daemonStop = Command.make("stop", {}, () =>
  Effect.gen(function*() {
    const socket = (yield* Globals).io.daemonSocket
    const stopped = socket === undefined
      ? false
      : (yield* Effect.promise(() => askDaemon(socket, { stop: true }, (message) => "stopping" in message))) === "answered"
    yield* emit(
      () => ({ stopped }),
      () => (socket === undefined ? OFF : stopped ? "Stopped the daemon." : "The daemon was not running.")
    )
  })).pipe(Command.withDescription("Stop the daemon (the next command starts a new one)"))

export const daemonCommand = Command.make("daemon").pipe(
  Command.withDescription("The background process that runs read commands and bd import (BD_NO_DAEMON=1: none)"),
  Command.withSubcommands([daemonStatus, daemonStop])
)
