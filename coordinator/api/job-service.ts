// JobService: validate → write → wake the leader. Reads go straight to Postgres.
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import type pg from "pg";
import { isJobStateName, jobStateFromWire, TERMINAL_STATES } from "../../shared/domain.js";
import type { JobServiceServer, WatchJobRequest } from "../../shared/gen/baton/v1/jobs.js";
import type { Job } from "../../shared/gen/baton/v1/types.js";
import type { SchedJob } from "../../shared/scheduling/types.js";
import type { SubmitMetrics } from "../metrics/coordinator-metrics.js";
import { withTransaction } from "../db/pool.js";
import { cancelJob } from "../sql/cancel-job.js";
import { beginSubmit } from "../../shared/tracing/job-spans.js";
import { insertJobsReporting, schedJobOf, type InsertedJob, type NewJob } from "../sql/insert-jobs.js";
import { CHANNELS, notify, notifyIds } from "../sql/notify.js";
import { getJob, listJobs } from "../sql/read-jobs.js";
import { InvalidArgumentError, NotFoundError, unary } from "./grpc-errors.js";
import type { JobChanges } from "./job-changes.js";
import { jobEdits } from "./job-edits.js";
import { getJobLogs } from "./job-logs.js";
import { toJob } from "./job-mapper.js";
import { batchSpecs } from "./batch-specs.js";
import { prepareBatch } from "./prepare-batch.js";
import type { SpecDefaults } from "./validate-job-spec.js";

export interface JobServiceDeps {
  pool: pg.Pool;
  changes: JobChanges;
  metrics?: SubmitMetrics;
  /** announcements of stored job output (baton_job_logs) */
  logsWritten: JobChanges;
  defaults: () => SpecDefaults;
  /** when this coordinator leads and can place at once: inserts the batch with what fits placed; else undefined */
  insertAtLocalLeader: (rows: NewJob[]) => Promise<InsertedJob[]> | undefined;
  /** hands new jobs to this coordinator's scheduler if it is the leader (placed at once, no notification) */
  submitToLocalLeader: (jobs: SchedJob[]) => boolean;
  /** tell the worker holding an attempt to stop it (locally if the stream is here) */
  cancelAttempt: (workerId: string, jobId: string, attempt: number) => Promise<void>;
}

const ID_RE = /^[1-9][0-9]{0,18}$/;

function parseId(id: string): string {
  if (!ID_RE.test(id)) throw new InvalidArgumentError(`job id ${JSON.stringify(id)} is not a job id (a positive integer)`);
  return id;
}

export function jobService(deps: JobServiceDeps): JobServiceServer {
  const { pool } = deps;

  const edits = jobEdits({ pool, defaults: deps.defaults, parseId });

  const load = async (id: string): Promise<Job> => {
    const found = await getJob(pool, parseId(id));
    if (!found) throw new NotFoundError(`job ${id} not found`);
    return toJob(found.job, found.attempts);
  };

  return {
    submitJobs: unary(async (req) => {
      const all = await prepareBatch(batchSpecs(req), { db: pool, defaults: deps.defaults() });
      const spans = beginSubmit(all);
      if (spans) all.forEach((r, i) => (r.traceContext = spans.carriers[i]));
      let inserted: InsertedJob[] = [];
      // The leader inserts a batch it can place at once itself, placed in the same statement.
      const byLeader = deps.insertAtLocalLeader(all);
      try {
        inserted = await (byLeader ?? insertJobsReporting(pool, all));
      } finally {
        spans?.end(inserted.map((r) => r.id));
      }
      if (byLeader) {
        deps.metrics?.submitted(all);
        return { ids: inserted.map((r) => r.id) };
      }
      const ids = inserted.map((r) => r.id);
      // A repeated idempotency key made no job: only new ones are counted and scheduled.
      const created = inserted.flatMap((r, i) => (r.created ? [{ id: r.id, row: all[i]! }] : []));
      const rows = created.map((c) => c.row);
      if (rows.length === 0) return { ids };
      deps.metrics?.submitted(rows);
      const now = Date.now();
      const delayed = rows.map((r) => (r.runAtMs ?? 0) > now);
      const jobs = rows.flatMap((r, i) => (delayed[i] ? [] : [schedJobOf(created[i]!.id, r, now)]));
      if (jobs.length === 0 || delayed.includes(true) || !deps.submitToLocalLeader(jobs)) await notify(pool, CHANNELS.wake).catch(() => {});
      return { ids };
    }),

    getJob: unary(async (req) => load(req.id)),

    listJobs: unary(async (req) => {
      const states = req.states.map((s) => jobStateFromWire(s));
      const pageSize = req.pageSize === 0 ? 100 : req.pageSize;
      if (pageSize < 0 || pageSize > 1000) throw new InvalidArgumentError("page_size must be from 1 to 1000");
      if (req.pageToken && !ID_RE.test(req.pageToken)) throw new InvalidArgumentError("page_token is not one this server gave out");
      const rows = await listJobs(pool, {
        // the dead-letter view: jobs that failed after their last attempt
        states: req.dead ? ["failed"] : states.filter(isJobStateName),
        queue: req.queue,
        workerId: req.workerId,
        beforeId: req.pageToken || undefined,
        limit: pageSize + 1,
      });
      const page = rows.slice(0, pageSize);
      return {
        jobs: page.map((r) => toJob(r)),
        nextPageToken: rows.length > pageSize ? page[page.length - 1]!.id : "",
      };
    }),

    cancelJob: unary(async (req) => {
      const id = parseId(req.id);
      const result = await withTransaction(pool, async (tx) => {
        const r = await cancelJob(tx, id);
        if (r) await notifyIds(tx, CHANNELS.jobChanged, [id]);
        return r;
      });
      if (!result) throw new NotFoundError(`job ${id} not found`);
      if ((result.state === "assigned" || result.state === "running") && result.workerId) {
        await deps.cancelAttempt(result.workerId, id, result.attempt);
      }
      return load(id);
    }),

    getJobLogs: getJobLogs({ pool, logsWritten: deps.logsWritten, changes: deps.changes, parseId }),

    updateJob: unary(async (req) => {
      await edits.updateJob(req);
      return load(req.id);
    }),
    deleteJob: unary((req) => edits.deleteJob(req)),
    retryJobs: unary((req) => edits.retryJobs(req)),

    watchJob: (call: ServerWritableStream<WatchJobRequest, Job>) => {
      let last = "";
      let done = false;
      let reading = false;
      let again = false;
      const finish = () => {
        if (done) return;
        done = true;
        unsubscribe();
        call.end();
      };
      const send = async () => {
        if (done) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            const job = await load(call.request.id);
            const key = `${job.state}|${job.attempt}|${job.unschedulableReason}|${job.cancelRequested}`;
            if (key !== last) {
              last = key;
              call.write(job);
            }
            if (TERMINAL_STATES.has(jobStateFromWire(job.state))) return finish();
          } while (again && !done);
        } catch (err) {
          if (!done) {
            done = true;
            unsubscribe();
            const e = err as Error & { code?: string };
            // Not destroy(): a destroyed stream never sends its status; an 'error' event ends the call with it.
            call.emit("error", Object.assign(new Error(e.message), {
              code: e.code === "NOT_FOUND" ? status.NOT_FOUND : e.code === "INVALID_ARGUMENT" ? status.INVALID_ARGUMENT : status.UNAVAILABLE,
              details: e.message,
            }));
          }
        } finally {
          reading = false;
        }
      };
      // Subscribe before the first read so that no change falls between the two.
      const unsubscribe = deps.changes.subscribe(call.request.id, () => void send());
      call.on("cancelled", finish);
      call.on("close", () => {
        done = true;
        unsubscribe();
      });
      void send();
    },
  };
}
