// The young generation written through once at start-up, as a JVM's -XX:+AlwaysPreTouch does for
// its heap. Pareto's main thread has its young generation at full size from the start (two 64 MiB
// semi-spaces, cli/node-flags.ts), but the kernel backs its pages only as they are first written:
// a fresh server's RSS was ~100 MiB under its working size, and reached it during the first burst
// of traffic, so growth looked like what a burst left behind (bench:abuse's held bodies: "after"
// 91–97 MiB above a baseline of 503–506 MiB, −20 to −63 above one of 621–623 MiB).
import { getHeapSpaceStatistics } from 'node:v8';

/** Allocates and drops twice the young generation's capacity in small arrays; ~90 ms where it is 128 MiB. */
export function preTouchYoungGeneration(): void {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (!young) return;
  // Each array is ~8 KiB of the young generation; scavenges swap the two semi-spaces, so twice the
  // capacity writes both.
  for (let written = 0; written < 2 * young.space_size; written += 8 * 1024) new Array<number>(1024).fill(written);
}
