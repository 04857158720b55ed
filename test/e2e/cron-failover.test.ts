// A schedule firing every second, across a SIGKILL of the leader: one job per occurrence, none
// repeated, none skipped (CATCH_UP), with real coordinator processes and the `baton cron` CLI.
import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { TestCluster, waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  await db?.drop();
  cluster = undefined;
  db = undefined;
});

async function occurrences(c: pg.Client): Promise<{ at: number; created: number }[]> {
  const { rows } = await c.query<{ at: Date; created: Date }>(
    "SELECT scheduled_at AS at, created_at AS created FROM jobs WHERE schedule_id IS NOT NULL ORDER BY scheduled_at, id",
  );
  return rows.map((r) => ({ at: r.at.getTime(), created: r.created.getTime() }));
}

it("fires each occurrence of an every-second schedule exactly once across a leader failover", async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  const c1 = await cluster.coordinator({ leaseMs: 3000 });
  await c1.waitFor(/elected leader, term 1/);
  const c2 = await cluster.coordinator({ leaseMs: 3000 });

  const create = cluster.spawn("cli-create", [
    "cron", "create", "tick", "--server", c2.grpcAddress, "--cron", "* * * * * *", "--missed", "catch-up",
    "--catch-up-limit", "30", "--", "sh", "-c", "echo $BATON_SCHEDULED_AT",
  ]);
  expect(await create.exited).toBe(0);
  expect(create.output).toMatch(/schedule tick \(\d+\) created: next run .* UTC/);

  const url = db.url;
  await waitUntil(url, async (c) => (await occurrences(c)).length >= 3, "three occurrences fired by the first leader");
  await c1.kill("SIGKILL");
  const killedAt = Date.now();
  await c2.waitFor(/elected leader, term 2/);
  // The new leader fires on: wait for occurrences it made after taking over.
  await waitUntil(url, async (c) => (await occurrences(c)).some((o) => o.at >= killedAt + 3000), "occurrences 3 s after the failover");

  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const all = await occurrences(c);
    const ats = all.map((o) => o.at);
    expect(new Set(ats).size).toBe(ats.length); // no duplicates
    for (let i = 1; i < ats.length; i++) expect(ats[i]! - ats[i - 1]!).toBe(1000); // consecutive seconds, no gap
    expect(ats.every((a) => a % 1000 === 0)).toBe(true);
    const latest = Math.max(...all.map((o) => o.created - o.at));
    console.log(`${ats.length} occurrences, ${new Date(ats[0]!).toISOString()} … ${new Date(ats.at(-1)!).toISOString()}; latest fired ${latest} ms after its time`);
    const { rows } = await c.query<{ argv: string[]; env: Record<string, string> }>(
      "SELECT payload->'argv' AS argv, payload->'env' AS env FROM jobs WHERE scheduled_at = $1", [new Date(ats[0]!)],
    );
    expect(rows[0]!.argv).toEqual(["sh", "-c", "echo $BATON_SCHEDULED_AT"]);
    expect(rows[0]!.env.BATON_SCHEDULED_AT).toBe(new Date(ats[0]!).toISOString());
  } finally {
    await c.end();
  }

  const ls = cluster.spawn("cli-ls", ["cron", "ls", "--server", c2.grpcAddress]);
  expect(await ls.exited).toBe(0);
  expect(ls.output).toMatch(/^NAME\s+CRON\s+TZ\s+MISSED\s+NEXT RUN\s+LAST RUN\s+JOB\n/);
  expect(ls.output).toMatch(/tick\s+\* \* \* \* \* \*\s+UTC\s+catch-up \(30\)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((in \d+s|\d+s ago)\)/);

  const pause = cluster.spawn("cli-pause", ["--server", c2.grpcAddress, "cron", "pause", "tick"]);
  expect(await pause.exited).toBe(0);
  expect(pause.output).toBe("schedule tick: paused\n");
  const rm = cluster.spawn("cli-rm", ["cron", "rm", "tick", "--server", c2.grpcAddress]);
  expect(await rm.exited).toBe(0);
  const rm2 = cluster.spawn("cli-rm2", ["cron", "rm", "tick", "--server", c2.grpcAddress]);
  expect(await rm2.exited).toBe(1);
  expect(rm2.output).toMatch(/error: .*schedule "tick" not found/);
});
