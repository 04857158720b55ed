// QueueService: queue settings (concurrency cap, pause) and counts. The leader enforces them: the
// scheduler plans within them and the fenced placement statement re-checks them (apply-plan.ts).
import type pg from "pg";
import type { Queue, QueueServiceServer } from "../../shared/gen/baton/v1/queues.js";
import { deleteQueue, getQueue, listQueues, setQueue, type QueueChange, type QueueRow } from "../sql/queues.js";
import { InvalidArgumentError, unary } from "./grpc-errors.js";

// The same names JobSpec.queue accepts (validate-job-spec.ts).
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

function queueName(name: string): string {
  if (!QUEUE_NAME.test(name)) {
    throw new InvalidArgumentError(`queue ${JSON.stringify(name)} must be 1-64 letters, digits, '_', '.', ':' or '-'`);
  }
  return name;
}

function toQueue(r: QueueRow): Queue {
  return {
    name: r.name,
    concurrencyCap: r.concurrency_cap ?? undefined,
    paused: r.paused,
    pending: r.pending,
    running: r.running,
    configured: r.configured,
    createdAtMs: r.created_at ? r.created_at.getTime() : 0,
    updatedAtMs: r.updated_at ? r.updated_at.getTime() : 0,
  };
}

export function queueService(pool: pg.Pool): QueueServiceServer {
  return {
    setQueue: unary(async (req) => {
      const name = queueName(req.name);
      if (req.clearCap && req.concurrencyCap !== undefined) {
        throw new InvalidArgumentError("set concurrency_cap or clear_cap, not both");
      }
      if (req.concurrencyCap !== undefined && !(req.concurrencyCap >= 0)) {
        throw new InvalidArgumentError(`concurrency_cap must be 0 or more (clear_cap removes it), got ${req.concurrencyCap}`);
      }
      const change: QueueChange = {};
      if (req.clearCap) change.cap = null;
      else if (req.concurrencyCap !== undefined) change.cap = req.concurrencyCap;
      if (req.paused !== undefined) change.paused = req.paused;
      return toQueue(await setQueue(pool, name, change));
    }),
    getQueue: unary(async (req) => toQueue(await getQueue(pool, queueName(req.name)))),
    listQueues: unary(async () => ({ queues: (await listQueues(pool)).map(toQueue) })),
    deleteQueue: unary(async (req) => ({ deleted: await deleteQueue(pool, queueName(req.name)) })),
  };
}
