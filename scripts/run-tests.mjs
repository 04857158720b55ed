// Runs the vitest suite and ends with one plain summary line ("N passed, N failed, N skipped").
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const dir = mkdtempSync(path.join(tmpdir(), "baton-tests-"));
const out = path.join(dir, "results.json");
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
let code = run.status ?? 1;
try {
  const r = JSON.parse(readFileSync(out, "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) code = 1;
} catch {
  console.log("\ntests: 0 passed, 1 failed (no results were written)");
  code = code || 1;
}
rmSync(dir, { recursive: true, force: true });
process.exit(code);
