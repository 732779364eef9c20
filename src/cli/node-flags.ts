// V8 flags Pareto's processes run with. V8 sizes the young generation at start-up, so they go on
// the node command line: the `pareto` bin's shebang, npm start, the Dockerfile, the children of
// `pareto cluster up` and of the benches (bench/lib/processes.ts). Keep those in step with this list.

/**
 * A 64 MiB semi-space. Servers: a 100 KB request body per request at ~750 requests/s promoted
 * enough short-lived buffers that bench:simulate's real server stalled for ~250 ms in 5 of 6 runs
 * (p99 90–340 ms); with the flag, in none of 3 (p99 28–59 ms). Load generators: scavenges of up to
 * 6 ms every ~15 ms made requests leave late (arrival-time error p99 2.5 ms, 0.6 ms with it).
 */
export const NODE_FLAGS = ['--max-semi-space-size=64'];
