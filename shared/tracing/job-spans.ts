// The trace of a job: one root span at submission, then per attempt a `queued` span (submitted or
// re-queued → placed), a `dispatch` span on the coordinator that sends the assignment, and a `run`
// span on the worker, whose context reaches the job's process as TRACEPARENT. Contexts travel as
// W3C carriers ({traceparent, tracestate}): stored on the job row, carried on the Assignment.
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { tracingEnabled } from "./sdk.js";

const tracer = () => trace.getTracer("baton");

export type Carrier = Record<string, string>;

/** Attribute names, in one place. */
export const ATTR = {
  jobId: "baton.job.id",
  attempt: "baton.job.attempt",
  queue: "baton.job.queue",
  workerId: "baton.worker.id",
  executor: "baton.job.executor",
  exitCode: "process.exit.code",
  reason: "baton.job.end_reason",
} as const;

function inject(span: Span): Carrier {
  const carrier: Carrier = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier;
}

function extract(carrier: Carrier | null | undefined) {
  return propagation.extract(context.active(), carrier ?? {});
}

export interface SubmitSpans {
  /** each job's carrier, to store with it */
  carriers: Carrier[];
  /** ends the root spans once the jobs are stored, with their ids */
  end(ids: string[]): void;
}

/** Root spans of jobs being submitted; undefined with tracing off. */
export function beginSubmit(jobs: { queue: string; executor: string }[]): SubmitSpans | undefined {
  if (!tracingEnabled()) return undefined;
  const spans = jobs.map((j) =>
    tracer().startSpan("baton.job.submit", {
      kind: SpanKind.SERVER,
      root: true,
      attributes: { [ATTR.queue]: j.queue, [ATTR.executor]: j.executor },
    }),
  );
  return {
    carriers: spans.map(inject),
    end(ids) {
      spans.forEach((span, i) => {
        if (ids[i]) span.setAttribute(ATTR.jobId, ids[i]);
        span.end();
      });
    },
  };
}

/**
 * At dispatch: records the wait in the queue (createdAt → assignedAt) and a dispatch span, both
 * under the job's root; returns the carrier for the worker (the dispatch span's context).
 */
export function traceDispatch(job: {
  id: string;
  attempt: number;
  workerId: string;
  carrier: Carrier | null;
  /** epoch ms: when the job was queued (first attempts only) and assigned */
  queuedSinceMs: number | null;
  assignedAtMs: number | null;
}): Carrier {
  if (!tracingEnabled() || !job.carrier || !job.carrier.traceparent) return {};
  const parent = extract(job.carrier);
  const attributes = { [ATTR.jobId]: job.id, [ATTR.attempt]: job.attempt, [ATTR.workerId]: job.workerId };
  if (job.queuedSinceMs !== null && job.assignedAtMs !== null) {
    tracer().startSpan("baton.job.queued", { startTime: new Date(job.queuedSinceMs), attributes }, parent).end(new Date(job.assignedAtMs));
  }
  const span = tracer().startSpan("baton.job.dispatch", { kind: SpanKind.PRODUCER, attributes }, parent);
  const carrier = inject(span);
  span.end();
  return carrier;
}

export interface RunSpan {
  /** carrier of the run span, for the job's process (TRACEPARENT) */
  carrier: Carrier;
  end(outcome: { exitCode?: number; reason: string; message?: string }): void;
}

/** On the worker: the run of one attempt, a child of the coordinator's dispatch span. */
export function traceRun(assignment: { jobId: string; attempt: number; traceContext: Carrier; workerId: string }): RunSpan | undefined {
  if (!tracingEnabled() || !assignment.traceContext.traceparent) return undefined;
  const span = tracer().startSpan(
    "baton.job.run",
    {
      kind: SpanKind.CONSUMER,
      attributes: { [ATTR.jobId]: assignment.jobId, [ATTR.attempt]: assignment.attempt, [ATTR.workerId]: assignment.workerId },
    },
    extract(assignment.traceContext),
  );
  return {
    carrier: inject(span),
    end(outcome) {
      span.setAttribute(ATTR.reason, outcome.reason);
      if (outcome.exitCode !== undefined) span.setAttribute(ATTR.exitCode, outcome.exitCode);
      const ok = outcome.reason === "exited" && outcome.exitCode === 0;
      span.setStatus(ok ? { code: SpanStatusCode.OK } : { code: SpanStatusCode.ERROR, message: outcome.message || outcome.reason });
      span.end();
    },
  };
}
