// A failed call to a coordinator, with a message a user can act on instead of a raw gRPC status.
import { status, type ServiceError } from "@grpc/grpc-js";

export class BatonClientError extends Error {
  override readonly name = "BatonClientError";
  constructor(
    /** The gRPC status code (`status.UNAVAILABLE`, …). */
    readonly code: status,
    message: string,
    /** The server's own text, or grpc-js's for failures that never reached a server. */
    readonly details: string,
  ) {
    super(message);
  }

  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

export function isBatonClientError(e: unknown): e is BatonClientError {
  return e instanceof BatonClientError;
}

function isServiceError(e: unknown): e is ServiceError {
  return typeof e === "object" && e !== null && typeof (e as ServiceError).code === "number" && "details" in e;
}

/** Statuses whose details the server writes for the user: show them as they are. */
const USER_FACING = new Set<status>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.ALREADY_EXISTS,
  status.OUT_OF_RANGE,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
  status.UNAUTHENTICATED,
]);

export function toBatonClientError(e: unknown, address: string, deadlineMs?: number): BatonClientError {
  if (e instanceof BatonClientError) return e;
  if (!isServiceError(e)) {
    const message = e instanceof Error ? e.message : String(e);
    return new BatonClientError(status.UNKNOWN, message, message);
  }
  const details = e.details || e.message;
  switch (e.code) {
    case status.UNAVAILABLE:
      return new BatonClientError(
        e.code,
        `cannot reach a Baton coordinator at ${address}: is it running? (set --server or BATON_SERVER)`,
        details,
      );
    case status.DEADLINE_EXCEEDED: {
      const within = deadlineMs ? ` within ${Math.round(deadlineMs / 1000)}s` : "";
      return new BatonClientError(e.code, `the coordinator at ${address} did not answer${within}`, details);
    }
    case status.UNIMPLEMENTED:
      return new BatonClientError(
        e.code,
        `the server at ${address} does not serve this Baton API (is it a Baton coordinator of a matching version?): ${details}`,
        details,
      );
    default:
      if (USER_FACING.has(e.code)) return new BatonClientError(e.code, details, details);
      return new BatonClientError(e.code, `${status[e.code] ?? e.code} from ${address}: ${details}`, details);
  }
}
