// After a model is loaded or unloaded, a thread (the main one, an executor) holds megabytes of
// garbage (the model files read to check their signatures, the replaced variants' state) that V8
// collects only under allocation pressure, so an idle server that reloads looks as if it leaked:
// 100 reloads of mnist-mlp took a CLI server's RSS up 11–13%, still rising at the end. With one
// full collection after each load or unload: up 5.6%, nearly flat after the 20th.
// Started as V8 starts its own (incremental marking, mark-compact-pacer.ts), not by gc(), which
// marks the whole heap inside one pause: the event loop's longest delay in a window with a reload,
// under a light stream, 18–19 ms against 32–35 with gc() and 13–14 with no reload (prom-client's
// lag reads ~10 ms on an idle loop); 100 reloads end within 1% of the first either way.
import { startMarking } from './mark-compact-pacer.js';

let scheduled = false;

/** A full collection of this thread's heap, started soon (once, however often it is asked for meanwhile). */
export function collectGarbageSoon(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    startMarking();
  }).unref();
}
