#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=64 --min-semi-space-size=64 --initial-old-space-size=256
// The `pareto` command.
import { Command, InvalidArgumentError } from 'commander';
import { benchCommand } from './bench.js';
import { hashKeyCommand } from './hash-key.js';
import { importCommand } from './import.js';
import { optimizeCommand, profileCommand } from './optimize.js';
import { clusterCommand } from './cluster.js';
import { gatewayCommand } from './gateway.js';
import { serveCommand, workerCommand } from './serve.js';
import { simulateCommand } from './simulate.js';

const program = new Command()
  .name('pareto')
  .description('Multi-tenant inference server that serves each batch from the latency-accuracy frontier of model variants')
  .version('0.1.0');

program.addCommand(serveCommand());
program.addCommand(workerCommand());
program.addCommand(gatewayCommand());
program.addCommand(clusterCommand());
program.addCommand(importCommand());
program.addCommand(optimizeCommand());
program.addCommand(profileCommand());
program.addCommand(hashKeyCommand());
program.addCommand(benchCommand());
program.addCommand(simulateCommand());

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`pareto: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(e instanceof InvalidArgumentError ? 2 : 1);
});
