// The job's first process is a tiny /bin/sh script that confines itself (moves into the job's
// cgroups, sets its rlimits) and only then execs the job's command: the command never runs a single
// instruction outside its limits, with no race between spawn and placement.
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";
import type { EntrySteps } from "./limits.js";

// $1: how many cgroup.procs files follow; then the files; then the data-size limit in KiB or "-";
// then the command and its arguments. A failure is told on fd 3 and ends the script with 125;
// fd 3 is closed by the exec, which tells the worker that the job's command is running.
const SCRIPT = [
  "n=$1; shift",
  'while [ "$n" -gt 0 ]; do',
  '  { echo $$ > "$1"; } 2>/dev/null || { echo "cannot move the job into the cgroup of $1" >&3; exit 125; }',
  "  n=$((n - 1)); shift",
  "done",
  'if [ "$1" != - ]; then',
  '  ulimit -d "$1" 2>/dev/null || { echo "cannot set the data size limit to $1 KiB" >&3; exit 125; }',
  "fi",
  "shift",
  'exec "$@" 3>&-',
].join("\n");

/** Exit code of the entry script when it could not confine the job. */
export const ENTRY_FAILED_EXIT_CODE = 125;

/** The argv that confines itself as `steps` say, then execs `command` (a resolved path) with `args`. */
export function entryArgv(steps: EntrySteps, command: string, args: readonly string[]): { command: string; args: string[] } {
  const { procsFiles, dataLimitKib } = steps;
  return {
    command: "/bin/sh",
    args: ["-c", SCRIPT, "baton-entry", String(procsFiles.length), ...procsFiles, dataLimitKib === undefined ? "-" : String(dataLimitKib), command, ...args],
  };
}

export type Resolved = { path: string } | { code: "ENOENT" | "EACCES" };

/**
 * Finds the program `command` names as execvp would (PATH search when it has no slash), so that a
 * missing or non-executable program is a spawn failure that names it, not exit code 127 of the
 * entry script.
 */
export function resolveCommand(command: string, pathVar: string | undefined, cwd: string): Resolved {
  if (command.includes("/")) {
    const p = path.resolve(cwd, command);
    const why = checkExecutable(p);
    return why ? { code: why } : { path: p };
  }
  let denied = false;
  for (const dir of (pathVar ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const p = path.resolve(cwd, dir === "" ? "." : dir, command);
    const why = checkExecutable(p);
    if (!why) return { path: p };
    if (why === "EACCES") denied = true;
  }
  return { code: denied ? "EACCES" : "ENOENT" };
}

function checkExecutable(p: string): "ENOENT" | "EACCES" | undefined {
  try {
    if (statSync(p).isDirectory()) return "EACCES";
  } catch {
    return "ENOENT";
  }
  try {
    accessSync(p, constants.X_OK);
    return undefined;
  } catch {
    return "EACCES";
  }
}
