// V8 flags and allocator settings Pareto's processes run with. Both take effect only at start-up,
// so they go on the command line or in the environment: the `pareto` bin's shebang, npm start,
// the Dockerfile, the children of `pareto cluster up` and of the benches (bench/lib/processes.ts).
// Keep those in step with this file.

/**
 * A 64 MiB semi-space. Servers: a 100 KB request body per request at ~750 requests/s promoted
 * enough short-lived buffers that bench:simulate's real server stalled for ~250 ms in 5 of 6 runs
 * (p99 90–340 ms); with the flag, in none of 3 (p99 28–59 ms). Load generators: scavenges of up to
 * 6 ms every ~15 ms made requests leave late (arrival-time error p99 2.5 ms, 0.6 ms with it).
 * At that size from the start (--min-semi-space-size): grown on demand, it stepped RSS up by 64
 * MiB minutes into a steady load, which bench:soak cannot tell from a leak.
 */
/**
 * A floor of 256 MiB under the old generation's collection limit. V8 starts a full (incremental)
 * collection whenever the room left under that limit is less than the young generation's capacity
 * (2 × 64 MiB), however little the old generation holds. With no floor, a small live heap (~27 MiB
 * for the bundled zoo) got a limit ~39 MiB above it: under 100 KB binary requests at c=4, 52–58
 * full collections in 5 s, 1.43–1.58 ms of server CPU per request against 0.46–0.52 ms with a
 * floor (npm run bench:front-door). A floor of 128 MiB left ~96 MiB of room: under a flood, a full
 * collection every 3–4 s, up to ~25 ms of the event loop each; with 256, 3 in a whole bench:abuse
 * run's cells, not 20 (bench/RESULTS.md, twenty-eighth and twenty-ninth sessions).
 *
 * Heap sizes only, for the main thread's heap: runtime/new-worker.ts sets each to 0 (V8's own
 * choice) before the first worker thread starts.
 */
export const NODE_FLAGS = ['--max-semi-space-size=64', '--min-semi-space-size=64', '--initial-old-space-size=256'];

/**
 * glibc's allocator: two arenas, and memory above 128 KiB at the top of the heap given back.
 * Model reloads are what this is for: 100 reloads of mnist-mlp grew RSS from 577 to 645 MiB
 * (+11.8%, most of it in the first 20, from per-thread arenas fragmenting), with these from 526
 * to 548 MiB (+4.2%, flat after the 20th). Ignored by other allocators.
 */
export const NODE_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' };
