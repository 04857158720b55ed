import { status, type sendUnaryData, type ServerErrorResponse, type ServerUnaryCall } from "@grpc/grpc-js";

export class NotFoundError extends Error {
  readonly code = "NOT_FOUND";
}

export class InvalidArgumentError extends Error {
  readonly code = "INVALID_ARGUMENT";
}

export function toServiceError(err: unknown): ServerErrorResponse {
  const e = err as Error & { code?: unknown };
  const code =
    e.code === "NOT_FOUND"
      ? status.NOT_FOUND
      : e.code === "INVALID_ARGUMENT" || e.code === "INVALID_JOB_SPEC"
        ? status.INVALID_ARGUMENT
        : status.UNAVAILABLE;
  return Object.assign(new Error(e.message), { code, details: e.message });
}

/** Adapts an async handler to grpc-js's callback style, mapping domain errors to status codes. */
export function unary<Req, Res>(fn: (req: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err)),
    );
  };
}
