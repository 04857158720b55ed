// UpdateJob, DeleteJob and RetryJobs: what may change about a job after submit, and when.
import type pg from "pg";
import type {
  DeleteJobRequest,
  DeleteJobResponse,
  RetryJobsRequest,
  RetryJobsResponse,
  UpdateJobRequest,
} from "../../shared/gen/baton/v1/jobs.js";
import { withTransaction } from "../db/pool.js";
import { changePendingJob, deleteJob } from "../sql/change-job.js";
import { CHANNELS, notify, notifyIds } from "../sql/notify.js";
import { getJob } from "../sql/read-jobs.js";
import { lockJobStates, retryFinishedJobs } from "../sql/retry-jobs.js";
import { toJobSpec } from "../dispatch/worker-stream.js";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "./grpc-errors.js";
import { validateJobSpec, type SpecDefaults } from "./validate-job-spec.js";

export interface JobEditsDeps {
  pool: pg.Pool;
  defaults: () => SpecDefaults;
  parseId: (id: string) => string;
}

const MAX_RETRY_IDS = 10_000;

export function jobEdits(deps: JobEditsDeps) {
  const { pool, parseId } = deps;
  const wakeLeader = () => notify(pool, CHANNELS.wake).catch(() => {});

  return {
    /** Changes a pending job's priority, resources, run_at or queue, validated as a submit is. */
    async updateJob(req: UpdateJobRequest): Promise<void> {
      const id = parseId(req.id);
      const found = await getJob(pool, id);
      if (!found) throw new NotFoundError(`job ${id} not found`);
      const notPending = (state: string) =>
        new FailedPreconditionError(`job ${id} is ${state}: only pending jobs can be changed`);
      if (found.job.state !== "pending") throw notPending(found.job.state);
      const spec = toJobSpec(found.job);
      if (req.priority !== undefined) spec.priority = req.priority;
      if (req.resources !== undefined) spec.resources = req.resources;
      if (req.queue !== undefined) spec.queue = req.queue;
      // A pending job's stored run_at may be long past (it was due); only a new one is checked.
      spec.runAtMs = req.runAtMs ?? 0;
      const runAtMs = req.runAtMs ?? found.job.run_at.getTime();
      const v = validateJobSpec(spec, `job ${id}`, deps.defaults());
      const state = await changePendingJob(pool, id, {
        priority: v.priority,
        queue: v.queue,
        cpuMillis: v.cpuMillis,
        memoryMb: v.memoryMb,
        gpus: v.gpus,
        runAtMs,
      });
      if (state === undefined) throw new NotFoundError(`job ${id} not found`);
      if (state !== "pending") throw notPending(state);
      await notifyIds(pool, CHANNELS.jobChanged, [id]);
      await wakeLeader();
    },

    /** Deletes a job that is not on a worker, with its history and output. */
    async deleteJob(req: DeleteJobRequest): Promise<DeleteJobResponse> {
      const id = parseId(req.id);
      const state = await deleteJob(pool, id);
      if (state === undefined) throw new NotFoundError(`job ${id} not found`);
      if (state !== "deleted") {
        throw new FailedPreconditionError(`job ${id} is ${state}: cancel it first (baton cancel ${id}), then delete it once it has ended`);
      }
      await notifyIds(pool, CHANNELS.jobChanged, [id]);
      return {};
    },

    /** Puts failed or cancelled jobs back in the queue with a fresh attempt budget. */
    async retryJobs(req: RetryJobsRequest): Promise<RetryJobsResponse> {
      let ids: string[];
      if (req.ids.length > 0) {
        if (req.allDead) throw new InvalidArgumentError("give either ids or all_dead, not both");
        if (req.ids.length > MAX_RETRY_IDS) throw new InvalidArgumentError(`at most ${MAX_RETRY_IDS} ids per call, got ${req.ids.length}`);
        const wanted = [...new Set(req.ids.map(parseId))];
        ids = await withTransaction(pool, async (tx) => {
          const states = await lockJobStates(tx, wanted);
          const missing = wanted.filter((id) => !states.has(id));
          if (missing.length > 0) throw new NotFoundError(`job ${missing.join(", ")} not found`);
          const wrong = wanted.filter((id) => states.get(id) !== "failed" && states.get(id) !== "cancelled");
          if (wrong.length > 0) {
            throw new FailedPreconditionError(
              `${wrong.map((id) => `job ${id} is ${states.get(id)}`).join(", ")}: only failed or cancelled jobs can be retried`,
            );
          }
          const done = await retryFinishedJobs(tx, { ids: wanted });
          await notifyIds(tx, CHANNELS.jobChanged, done);
          return done;
        });
      } else if (req.allDead) {
        ids = await withTransaction(pool, async (tx) => {
          const done = await retryFinishedJobs(tx, { allDeadInQueue: req.queue });
          await notifyIds(tx, CHANNELS.jobChanged, done);
          return done;
        });
      } else {
        throw new InvalidArgumentError("nothing to retry: give job ids, or all_dead (optionally with a queue) to retry every failed job");
      }
      if (ids.length > 0) await wakeLeader();
      return { ids };
    },
  };
}
