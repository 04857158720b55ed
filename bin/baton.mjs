#!/usr/bin/env node
// The `baton` command: runs the TypeScript sources through tsx, no build step.
import { register } from "tsx/esm/api";

register();
await import("../client/cli/main.ts");
