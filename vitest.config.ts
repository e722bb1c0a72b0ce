import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/stopDaemons.ts"],
    pool: "forks",
    // Most integration tests wait on bd, git, sshd or MariaDB processes: two
    // files at a time keep a 2-core machine busy without starving either.
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ["default"]
  }
})
