#!/usr/bin/env node
// The `resnet` command: a thin layer over the library (run.ts dispatches and sets the exit code).

import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2));
