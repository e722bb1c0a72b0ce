/** Who is acting, as beads decides it: the first of these that is set and not blank. */
export interface ActorSources {
  readonly flag: string | undefined
  readonly beadsActor: string | undefined
  readonly bdActor: string | undefined
  readonly configActor: string | undefined
  readonly gitUserName: () => string | undefined
  readonly user: string | undefined
}

const present = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === "" ? undefined : trimmed
}

/** `--actor`, `BEADS_ACTOR`, `BD_ACTOR`, config `actor`, git `user.name`, `$USER`, else "unknown". */
export const resolveActor = (sources: ActorSources): string =>
  present(sources.flag) ??
    present(sources.beadsActor) ??
    present(sources.bdActor) ??
    present(sources.configActor) ??
    present(sources.gitUserName()) ??
    present(sources.user) ??
    "unknown"
