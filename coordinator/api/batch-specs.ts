// A submitted batch as specs, whichever form it came in: `jobs` as they are, or the compact form
// (`specs` and `items`, see SubmitJobsRequest) expanded. The expanded specs share what their spec
// shares (resources, labels, retry policy...): readers only, like every spec of a batch.
import type { SubmitJobsRequest } from "../../shared/gen/baton/v1/jobs.js";
import type { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { InvalidJobSpecError } from "./validate-job-spec.js";

export function batchSpecs(req: SubmitJobsRequest): JobSpec[] {
  if (req.items.length === 0) {
    if (req.specs.length > 0) throw new InvalidJobSpecError("specs is set without items: a compact batch lists its jobs in items");
    return req.jobs;
  }
  if (req.jobs.length > 0) throw new InvalidJobSpecError("jobs and items are both set: send a batch as jobs, or as specs and items");
  const out: JobSpec[] = new Array(req.items.length);
  for (let i = 0; i < req.items.length; i++) {
    const item = req.items[i]!;
    const spec = req.specs[item.spec];
    if (!spec) {
      throw new InvalidJobSpecError(`items[${i}].spec is ${item.spec}, not an index of specs (0 to ${req.specs.length - 1})`);
    }
    let executor = spec.executor;
    if (executor?.$case === "js") {
      // items that keep the spec's payload share its executor
      if (item.payloadJson !== executor.js.payloadJson) executor = { $case: "js", js: { ...executor.js, payloadJson: item.payloadJson } };
    } else if (item.payloadJson !== "") {
      throw new InvalidJobSpecError(`items[${i}]: payload_json is for js jobs, and specs[${item.spec}] is not one`);
    }
    out[i] = { ...spec, name: item.name, executor };
  }
  return out;
}
