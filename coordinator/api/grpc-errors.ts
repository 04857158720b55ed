import { status, type sendUnaryData, type ServerErrorResponse, type ServerUnaryCall } from "@grpc/grpc-js";

export class NotFoundError extends Error {
  readonly code = "NOT_FOUND";
}

export class InvalidArgumentError extends Error {
  readonly code = "INVALID_ARGUMENT";
}

export class FailedPreconditionError extends Error {
  readonly code = "FAILED_PRECONDITION";
}

/** Domain error codes (the `code` field of our error classes) and the gRPC status each becomes. */
const STATUS_OF: Record<string, status> = {
  NOT_FOUND: status.NOT_FOUND,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  INVALID_JOB_SPEC: status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
};

/** Anything else (the database is unreachable, a query failed) is UNAVAILABLE: worth a retry. */
export function toServiceError(err: unknown): ServerErrorResponse {
  const e = err as Error & { code?: unknown };
  const code = STATUS_OF[String(e.code)] ?? status.UNAVAILABLE;
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
