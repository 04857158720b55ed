// JobService.GetJobLogs: a job's stored output in (attempt, seq) order; with follow, more as it is
// stored (announced by NOTIFY baton_job_logs), until the job, or the one attempt asked for, is over
// and everything stored has been sent.
import { once } from "node:events";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type pg from "pg";
import { isJobStateName, TERMINAL_STATES } from "../../shared/domain.js";
import type { GetJobLogsRequest, JobLogChunk } from "../../shared/gen/baton/v1/jobs.js";
import { readJobLogs, readJobProgress, type JobLogRow, type LogCursor } from "../sql/read-job-logs.js";
import { InvalidArgumentError, NotFoundError, toServiceError } from "./grpc-errors.js";
import type { JobChanges } from "./job-changes.js";

export interface JobLogsDeps {
  pool: pg.Pool;
  /** announcements of stored output (baton_job_logs), by job id */
  logsWritten: JobChanges;
  /** announcements of job state changes (baton_job_changed), by job id */
  changes: JobChanges;
  parseId: (id: string) => string;
}

/** Rows read per query; gRPC flow control paces the writes between reads. */
const PAGE_ROWS = 200;

export function getJobLogs(deps: JobLogsDeps) {
  return (call: ServerWritableStream<GetJobLogsRequest, JobLogChunk>): void => {
    let closed = false;
    let dirty = true;
    let wake: (() => void) | undefined;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const unsubscribe: (() => void)[] = [];
    const close = () => {
      closed = true;
      poke();
    };
    call.on("cancelled", close);
    call.on("close", close);

    const stream = async () => {
      const id = deps.parseId(call.request.id);
      const attempt = call.request.attempt;
      if (!Number.isInteger(attempt) || attempt < 0) {
        throw new InvalidArgumentError(`attempt ${attempt} is not an attempt number (1, 2, …; 0 for every attempt)`);
      }
      if (call.request.follow) {
        // Subscribe before the first read so that nothing stored in between is missed.
        unsubscribe.push(deps.logsWritten.subscribe(id, poke), deps.changes.subscribe(id, poke));
      }
      let cursor: LogCursor = { attempt: 0, seq: "0" };
      for (;;) {
        dirty = false;
        // The job's progress is read before its output: when it is over, everything it stored
        // before ending is in the read that follows.
        const progress = await readJobProgress(deps.pool, id);
        if (!progress) throw new NotFoundError(`job ${id} not found`);
        for (;;) {
          const rows = await readJobLogs(deps.pool, id, { attempt, after: cursor, limit: PAGE_ROWS });
          for (const row of rows) {
            if (closed) return;
            if (!call.write(toChunk(row))) await drained(call, () => closed);
          }
          const last = rows[rows.length - 1];
          if (last) cursor = { attempt: last.attempt, seq: last.seq };
          if (rows.length < PAGE_ROWS) break;
        }
        if (closed || !call.request.follow || isOver(progress, attempt)) return;
        if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (closed) return;
      }
    };

    stream().then(
      () => {
        for (const u of unsubscribe) u();
        if (!call.cancelled && !call.destroyed) call.end();
      },
      (err: unknown) => {
        for (const u of unsubscribe) u();
        // Not destroy(): a destroyed stream never sends its status; an 'error' event ends the call with it.
        if (!call.cancelled && !call.destroyed) call.emit("error", toServiceError(err));
      },
    );
  };
}

/** Whether no more output is coming for what is asked: the job ended, or the one attempt did. */
function isOver(progress: { state: string; attempt: number }, attempt: number): boolean {
  if (isJobStateName(progress.state) && TERMINAL_STATES.has(progress.state)) return true;
  if (attempt === 0) return false;
  return progress.attempt > attempt || (progress.attempt === attempt && progress.state === "pending");
}

function toChunk(row: JobLogRow): JobLogChunk {
  return { attempt: row.attempt, stream: row.stream, data: row.data, atMs: row.at.getTime(), seq: Number(row.seq) };
}

/** Waits until the call's buffer has room again, or it is closed. */
async function drained(call: ServerWritableStream<GetJobLogsRequest, JobLogChunk>, isClosed: () => boolean): Promise<void> {
  if (isClosed()) return;
  const ac = new AbortController();
  const onClose = () => ac.abort();
  call.once("close", onClose);
  try {
    await once(call, "drain", { signal: ac.signal });
  } catch {
    // closed while waiting
  } finally {
    call.off("close", onClose);
  }
}
