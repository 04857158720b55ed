// The TypeScript client of a Baton cluster: promise methods over the JobService and ClusterService
// gRPC clients, with failures turned into BatonClientError.
import { submitRequest } from "./compact-batch.js";
import { credentials, Metadata, type CallOptions, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { ClusterServiceClient, type ClusterStatus } from "../shared/gen/baton/v1/cluster.js";
import { ConfigServiceClient, type ConfigSetting, type GetConfigResponse } from "../shared/gen/baton/v1/config.js";
import {
  JobServiceClient,
  type JobLogChunk,
  type ListJobsRequest,
  type ListJobsResponse,
  type DeleteJobResponse,
  type RetryJobsRequest,
  type RetryJobsResponse,
  type UpdateJobRequest,
  type SubmitJobsResponse,
} from "../shared/gen/baton/v1/jobs.js";
import {
  TemplateServiceClient,
  type DeleteTemplateResponse,
  type ListTemplatesResponse,
  type Template,
  type TemplateParam,
} from "../shared/gen/baton/v1/templates.js";
import { QueueServiceClient, type ListQueuesResponse, type Queue, type SetQueueRequest } from "../shared/gen/baton/v1/queues.js";
import {
  ScheduleServiceClient,
  type CreateScheduleRequest,
  type ListSchedulesResponse,
  type Schedule,
} from "../shared/gen/baton/v1/schedules.js";
import { JobState, type Job, type JobSpec } from "../shared/gen/baton/v1/types.js";
import { toBatonClientError } from "./baton-client-error.js";

export { BatonClientError, isBatonClientError } from "./baton-client-error.js";

export const DEFAULT_SERVER = "127.0.0.1:50051";

export interface BatonClientOptions {
  /** Deadline of each unary call but SubmitJobs. */
  callTimeoutMs?: number;
  /** Deadline of SubmitJobs, which may carry a large batch. */
  submitTimeoutMs?: number;
}

const TERMINAL = new Set<JobState>([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

export function isTerminal(job: Job): boolean {
  return TERMINAL.has(job.state);
}

export interface GetJobLogsOptions {
  /** keep streaming new output until the job (or the attempt asked for) is over */
  follow?: boolean;
  /** one attempt's output; 0 or absent: every attempt */
  attempt?: number;
}

type Invoke<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

export class BatonClient {
  private readonly jobs: JobServiceClient;
  private readonly cluster: ClusterServiceClient;
  private readonly config: ConfigServiceClient;
  private readonly schedules: ScheduleServiceClient;
  private readonly queues: QueueServiceClient;
  private readonly templates: TemplateServiceClient;
  private readonly callTimeoutMs: number;
  private readonly submitTimeoutMs: number;

  constructor(
    readonly address: string,
    opts: BatonClientOptions = {},
  ) {
    const creds = credentials.createInsecure();
    this.jobs = new JobServiceClient(address, creds);
    // Share one channel between both services.
    this.cluster = new ClusterServiceClient(address, creds, { channelOverride: this.jobs.getChannel() });
    this.config = new ConfigServiceClient(address, creds, { channelOverride: this.jobs.getChannel() });
    this.schedules = new ScheduleServiceClient(address, creds, { channelOverride: this.jobs.getChannel() });
    this.queues = new QueueServiceClient(address, creds, { channelOverride: this.jobs.getChannel() });
    this.templates = new TemplateServiceClient(address, creds, { channelOverride: this.jobs.getChannel() });
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.submitTimeoutMs = opts.submitTimeoutMs ?? 120_000;
  }

  async submitJobs(specs: JobSpec[]): Promise<string[]> {
    const res = await this.unary<SubmitJobsResponse>((m, o, cb) => this.jobs.submitJobs(submitRequest(specs), m, o, cb), this.submitTimeoutMs);
    return res.ids;
  }

  getJob(id: string): Promise<Job> {
    return this.unary<Job>((m, o, cb) => this.jobs.getJob({ id }, m, o, cb));
  }

  async listJobs(req: Partial<ListJobsRequest> = {}): Promise<ListJobsResponse> {
    const full: ListJobsRequest = {
      states: req.states ?? [],
      queue: req.queue ?? "",
      workerId: req.workerId ?? "",
      pageSize: req.pageSize ?? 0,
      pageToken: req.pageToken ?? "",
      dead: req.dead ?? false,
    };
    const res = await this.unary<ListJobsResponse>((m, o, cb) => this.jobs.listJobs(full, m, o, cb));
    return { jobs: res.jobs, nextPageToken: res.nextPageToken };
  }

  cancelJob(id: string): Promise<Job> {
    return this.unary<Job>((m, o, cb) => this.jobs.cancelJob({ id }, m, o, cb));
  }

  /** Changes a pending job: only the fields given. */
  updateJob(id: string, change: Omit<Partial<UpdateJobRequest>, "id">): Promise<Job> {
    const req: UpdateJobRequest = { id, resources: change.resources, priority: change.priority, runAtMs: change.runAtMs, queue: change.queue };
    return this.unary<Job>((m, o, cb) => this.jobs.updateJob(req, m, o, cb));
  }

  /** Deletes a job that is not running, with its history and output. */
  async deleteJob(id: string): Promise<void> {
    await this.unary<DeleteJobResponse>((m, o, cb) => this.jobs.deleteJob({ id }, m, o, cb));
  }

  /** Puts failed or cancelled jobs back in the queue: these ids, or every failed job (of a queue). */
  async retryJobs(target: { ids: string[] } | { allDead: true; queue?: string }): Promise<string[]> {
    const req: RetryJobsRequest =
      "ids" in target ? { ids: target.ids, queue: "", allDead: false } : { ids: [], queue: target.queue ?? "", allDead: true };
    const res = await this.unary<RetryJobsResponse>((m, o, cb) => this.jobs.retryJobs(req, m, o, cb));
    return res.ids;
  }

  getCluster(): Promise<ClusterStatus> {
    return this.unary<ClusterStatus>((m, o, cb) => this.cluster.getCluster({}, m, o, cb));
  }

  /** Cluster settings as the coordinator called applies them: all, or one by key. */
  async getConfig(key = ""): Promise<ConfigSetting[]> {
    const res = await this.unary<GetConfigResponse>((m, o, cb) => this.config.getConfig({ key }, m, o, cb));
    return res.settings;
  }

  /** Stores a value for the whole cluster; `value` is JSON text or a bare word ("spread"). */
  setConfig(key: string, value: string, updatedBy = ""): Promise<ConfigSetting> {
    return this.unary<ConfigSetting>((m, o, cb) => this.config.setConfig({ key, value, updatedBy }, m, o, cb));
  }

  /** Removes the stored value: every coordinator goes back to its default. */
  resetConfig(key: string): Promise<ConfigSetting> {
    return this.unary<ConfigSetting>((m, o, cb) => this.config.resetConfig({ key }, m, o, cb));
  }

  /** Changes a queue's settings: only those given (cap: a number, or null for unlimited). */
  setQueue(name: string, change: { cap?: number | null; paused?: boolean }): Promise<Queue> {
    const req: SetQueueRequest = {
      name,
      concurrencyCap: change.cap ?? undefined,
      clearCap: change.cap === null,
      paused: change.paused,
    };
    return this.unary<Queue>((m, o, cb) => this.queues.setQueue(req, m, o, cb));
  }

  getQueue(name: string): Promise<Queue> {
    return this.unary<Queue>((m, o, cb) => this.queues.getQueue({ name }, m, o, cb));
  }

  async listQueues(): Promise<Queue[]> {
    const res = await this.unary<ListQueuesResponse>((m, o, cb) => this.queues.listQueues({}, m, o, cb));
    return res.queues;
  }

  /** Removes a queue's settings (unlimited and active again); false when it had none. */
  async deleteQueue(name: string): Promise<boolean> {
    const res = await this.unary<{ deleted: boolean }>((m, o, cb) => this.queues.deleteQueue({ name }, m, o, cb));
    return res.deleted;
  }

  /** Stores a new version of the template (1 for a new name) and returns it. */
  putTemplate(name: string, spec: JobSpec, params: TemplateParam[]): Promise<Template> {
    return this.unary<Template>((m, o, cb) => this.templates.putTemplate({ name, spec, params }, m, o, cb));
  }

  /** One version of a template; 0: the latest. */
  getTemplate(name: string, version = 0): Promise<Template> {
    return this.unary<Template>((m, o, cb) => this.templates.getTemplate({ name, version }, m, o, cb));
  }

  /** The latest version of every template. */
  async listTemplates(): Promise<Template[]> {
    const res = await this.unary<ListTemplatesResponse>((m, o, cb) => this.templates.listTemplates({}, m, o, cb));
    return res.templates;
  }

  /** Deletes every version; returns how many there were. */
  async deleteTemplate(name: string): Promise<number> {
    const res = await this.unary<DeleteTemplateResponse>((m, o, cb) => this.templates.deleteTemplate({ name }, m, o, cb));
    return res.versionsDeleted;
  }

  createSchedule(req: CreateScheduleRequest): Promise<Schedule> {
    return this.unary<Schedule>((m, o, cb) => this.schedules.createSchedule(req, m, o, cb));
  }

  async listSchedules(): Promise<Schedule[]> {
    const res = await this.unary<ListSchedulesResponse>((m, o, cb) => this.schedules.listSchedules({}, m, o, cb));
    return res.schedules;
  }

  pauseSchedule(name: string): Promise<Schedule> {
    return this.unary<Schedule>((m, o, cb) => this.schedules.pauseSchedule({ name }, m, o, cb));
  }

  resumeSchedule(name: string): Promise<Schedule> {
    return this.unary<Schedule>((m, o, cb) => this.schedules.resumeSchedule({ name }, m, o, cb));
  }

  async deleteSchedule(name: string): Promise<void> {
    await this.unary((m, o, cb) => this.schedules.deleteSchedule({ name }, m, o, cb));
  }

  /**
   * The job now and after each state change. Ends after a terminal job (whether or not the server
   * has closed the stream yet), or when the server ends the stream; breaking out cancels the call.
   */
  async *watchJob(id: string): AsyncGenerator<Job, void, undefined> {
    const call: ClientReadableStream<Job> = this.jobs.watchJob({ id });
    try {
      for await (const job of call as AsyncIterable<Job>) {
        yield job;
        if (isTerminal(job)) return;
      }
    } catch (e) {
      throw toBatonClientError(e, this.address);
    } finally {
      call.cancel();
    }
  }

  /**
   * A job's output in order (attempt, then seq): stdout and stderr chunks as the worker captured
   * them. Without follow it ends after what is stored now; breaking out cancels the call.
   */
  async *getJobLogs(id: string, opts: GetJobLogsOptions = {}): AsyncGenerator<JobLogChunk, void, undefined> {
    const call: ClientReadableStream<JobLogChunk> = this.jobs.getJobLogs({
      id,
      follow: opts.follow ?? false,
      attempt: opts.attempt ?? 0,
    });
    try {
      for await (const chunk of call as AsyncIterable<JobLogChunk>) yield chunk;
    } catch (e) {
      throw toBatonClientError(e, this.address);
    } finally {
      call.cancel();
    }
  }

  close(): void {
    this.jobs.close();
    this.cluster.close();
    this.config.close();
    this.schedules.close();
    this.queues.close();
    this.templates.close();
  }

  private unary<Res>(invoke: Invoke<Res>, timeoutMs = this.callTimeoutMs): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      invoke(new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(toBatonClientError(err, this.address, timeoutMs));
        else resolve(res);
      });
    });
  }
}
