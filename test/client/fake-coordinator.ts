// A real gRPC server with the generated JobService/ClusterService definitions, backed by a map: the
// CLI and client are tested over the wire without a database or a scheduler.
import { randomUUID } from "node:crypto";
import { Server, ServerCredentials, status, type ServerWritableStream } from "@grpc/grpc-js";
import { ClusterServiceService, type ClusterServiceServer, type ClusterStatus } from "../../shared/gen/baton/v1/cluster.js";
import {
  JobServiceService,
  type GetJobLogsRequest,
  type JobLogChunk,
  type JobServiceServer,
  type ListJobsRequest,
  type WatchJobRequest,
} from "../../shared/gen/baton/v1/jobs.js";
import { Job, JobState, type JobSpec } from "../../shared/gen/baton/v1/types.js";

export interface FakeCoordinator {
  port: number;
  address: string;
  jobs: Map<string, Job>;
  submitted: JobSpec[][];
  listRequests: ListJobsRequest[];
  /** stored output by job id, sent as is (filtered by attempt) */
  logs: Map<string, JobLogChunk[]>;
  logRequests: GetJobLogsRequest[];
  cluster: ClusterStatus;
  /** How the next watched job ends: the states the stream sends after the current one. */
  watchScript: (job: Job) => Partial<Job>[];
  stop(): Promise<void>;
}

export function makeJob(spec: JobSpec, over: Partial<Job> = {}): Job {
  return Job.fromPartial({
    id: randomUUID(),
    spec,
    state: JobState.JOB_STATE_PENDING,
    attempt: 0,
    workerId: "",
    reason: "",
    message: "",
    unschedulableReason: "",
    createdAtMs: Date.now(),
    assignedAtMs: 0,
    startedAtMs: 0,
    finishedAtMs: 0,
    attempts: [],
    cancelRequested: false,
    ...over,
  });
}

const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

export async function startFakeCoordinator(): Promise<FakeCoordinator> {
  const server = new Server();
  const fake: FakeCoordinator = {
    port: 0,
    address: "",
    jobs: new Map(),
    submitted: [],
    listRequests: [],
    logs: new Map(),
    logRequests: [],
    cluster: {
      leaderId: "coord-a",
      term: 3,
      coordinators: [
        { id: "coord-a", grpcAddress: "10.0.0.1:50051", httpAddress: "10.0.0.1:8080", leader: true, startedAtMs: Date.now() - 60_000, lastSeenMs: Date.now() },
        { id: "coord-b", grpcAddress: "10.0.0.2:50051", httpAddress: "10.0.0.2:8080", leader: false, startedAtMs: Date.now() - 60_000, lastSeenMs: Date.now() },
      ],
      workers: [
        {
          id: "0f4c2a9e-1111-2222-3333-444455556666",
          name: "w-gpu-1",
          capacity: { cpuMillis: 4000, memoryMb: 8192, gpus: 1 },
          slots: 8,
          allocated: { cpuMillis: 1500, memoryMb: 512, gpus: 0 },
          allocatedSlots: 2,
          labels: { zone: "a", gpu: "yes" },
          state: "alive",
          coordinatorId: "coord-a",
          lastHeartbeatMs: Date.now(),
          limitsMechanism: "cgroup-v2",
          used: { cpuMillis: 1500, memoryMb: 2048, gpus: 0 },
          gpuIds: [],
          running: 2,
        },
        {
          id: "9a8b7c6d-1111-2222-3333-444455556666",
          name: "w-2",
          capacity: { cpuMillis: 2000, memoryMb: 4096, gpus: 0 },
          slots: 4,
          allocated: { cpuMillis: 0, memoryMb: 0, gpus: 0 },
          allocatedSlots: 0,
          labels: {},
          state: "lost",
          coordinatorId: "coord-b",
          lastHeartbeatMs: Date.now() - 120_000,
          limitsMechanism: "rlimit",
          used: { cpuMillis: 0, memoryMb: 0, gpus: 0 },
          gpuIds: [],
          running: 0,
        },
      ],
      jobCounts: { pending: 4, running: 2, succeeded: 10, failed: 1 },
      unschedulable: 1,
    },
    watchScript: () => [
      { state: JobState.JOB_STATE_RUNNING, workerId: "w-gpu-1", attempt: 1, startedAtMs: Date.now() },
      { state: JobState.JOB_STATE_SUCCEEDED, exitCode: 0, reason: "exited", finishedAtMs: Date.now() },
    ],
    stop: async () => server.forceShutdown(),
  };

  const jobService: JobServiceServer = {
    submitJobs(call, callback) {
      const specs = call.request.jobs;
      fake.submitted.push(specs);
      if (specs.some((s) => s.queue === "forbidden")) {
        callback({ code: status.INVALID_ARGUMENT, details: "jobs[0].queue: queue 'forbidden' does not exist" });
        return;
      }
      const ids = specs.map((spec) => {
        const job = makeJob(spec);
        fake.jobs.set(job.id, job);
        return job.id;
      });
      callback(null, { ids });
    },
    getJob(call, callback) {
      const job = fake.jobs.get(call.request.id);
      if (!job) callback({ code: status.NOT_FOUND, details: `job ${call.request.id} not found` });
      else callback(null, job);
    },
    listJobs(call, callback) {
      fake.listRequests.push(call.request);
      const { states, queue, workerId, pageToken } = call.request;
      const pageSize = call.request.pageSize || 100;
      const all = [...fake.jobs.values()].filter(
        (j) =>
          (states.length === 0 || states.includes(j.state)) &&
          (!queue || (j.spec?.queue || "default") === queue) &&
          (!workerId || j.workerId === workerId),
      );
      const start = pageToken ? Number(pageToken) : 0;
      const jobs = all.slice(start, start + pageSize);
      const next = start + pageSize < all.length ? String(start + pageSize) : "";
      callback(null, { jobs, nextPageToken: next });
    },
    cancelJob(call, callback) {
      const job = fake.jobs.get(call.request.id);
      if (!job) {
        callback({ code: status.NOT_FOUND, details: `job ${call.request.id} not found` });
        return;
      }
      if (TERMINAL.has(job.state)) {
        callback({ code: status.FAILED_PRECONDITION, details: `job ${job.id} already finished` });
        return;
      }
      const next: Job =
        job.state === JobState.JOB_STATE_PENDING
          ? { ...job, state: JobState.JOB_STATE_CANCELLED, reason: "cancelled", finishedAtMs: Date.now() }
          : { ...job, cancelRequested: true };
      fake.jobs.set(job.id, next);
      callback(null, next);
    },
    updateJob(_call, callback) {
      callback({ code: status.UNIMPLEMENTED, details: "not in the fake" });
    },
    deleteJob(_call, callback) {
      callback({ code: status.UNIMPLEMENTED, details: "not in the fake" });
    },
    retryJobs(_call, callback) {
      callback({ code: status.UNIMPLEMENTED, details: "not in the fake" });
    },
    getJobLogs(call) {
      fake.logRequests.push(call.request);
      if (!fake.jobs.has(call.request.id)) {
        call.emit("error", { code: status.NOT_FOUND, details: `job ${call.request.id} not found` });
        return;
      }
      for (const c of fake.logs.get(call.request.id) ?? []) {
        if (!call.request.attempt || c.attempt === call.request.attempt) call.write(c);
      }
      call.end();
    },
    watchJob(call: ServerWritableStream<WatchJobRequest, Job>) {
      let job = fake.jobs.get(call.request.id);
      if (!job) {
        call.emit("error", { code: status.NOT_FOUND, details: `job ${call.request.id} not found` });
        return;
      }
      call.write(job);
      const steps = fake.watchScript(job);
      let i = 0;
      const tick = () => {
        if (call.cancelled) return;
        if (i >= steps.length) {
          call.end();
          return;
        }
        job = { ...job!, ...steps[i++] };
        fake.jobs.set(job.id, job);
        call.write(job);
        setTimeout(tick, 20);
      };
      setTimeout(tick, 20);
    },
  };
  const clusterService: ClusterServiceServer = {
    getCluster(_call, callback) {
      callback(null, fake.cluster);
    },
  };
  server.addService(JobServiceService, jobService);
  server.addService(ClusterServiceService, clusterService);

  fake.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  fake.address = `127.0.0.1:${fake.port}`;
  return fake;
}
