// bench:faults — the cluster under real network faults (issue #18): Redis, 3 workers, 2 gateways
// and the client each in a network namespace of its own on one bridge (made and removed here; needs
// root, iproute2 and iptables: scripts/install-iptables.sh). Each fault is iptables rules inside one
// host for --fault-seconds under steady traffic at --rate requests/s (1-row mnist-mlp, round robin
// over the gateways, 250 ms SLO); printed per fault: requests lost, answers during it, p99 before /
// during / after, when each gateway took the bad worker out of and back into routing, routing
// changes that should not have happened.
// Options: --rate N (default 800, about half of what this machine's 2 cores serve), --fault-seconds N (default 20), --only <substring>.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaultCluster } from '../test/helpers/fault-cluster.js';
import { runFault, SCENARIOS } from '../test/helpers/fault-scenarios.js';
import { netnsMissing } from '../test/helpers/netns.js';

const { values: args } = parseArgs({ options: { rate: { type: 'string', default: '800' }, 'fault-seconds': { type: 'string', default: '20' }, only: { type: 'string' } } });
const missing = netnsMissing();
if (missing) {
  console.error(`bench:faults cannot run here: ${missing}`);
  process.exit(1);
}
const cluster = await FaultCluster.start(250, (line) => console.error(line));
// The first scenario's "before" read 400 ms at p99 after 3 s of warm-up, ~70 ms for the others.
await cluster.warmUp(Number(args.rate), 10_000);
const results = [];
try {
  for (const s of SCENARIOS.filter((x) => !args.only || x.name.includes(args.only))) {
    const run = await runFault(cluster, s, { rate: Number(args.rate), beforeMs: 5000, faultMs: Number(args['fault-seconds']) * 1000, afterMs: 5000 });
    const row = { ...run, p99Ratio: +(run.p99DuringMs / run.p99BeforeMs).toFixed(2), wrongDowns: run.wrongDowns.map((e) => `${e.host} ${e.msg} ${String(e.fields.address)} ${String(e.fields.why ?? '')}`) };
    results.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await cluster.close();
}
writeFileSync(join(new URL('../..', import.meta.url).pathname, 'bench/results/faults.json'), JSON.stringify({ date: new Date().toISOString(), rate: Number(args.rate), faultSeconds: Number(args['fault-seconds']), results }, null, 2) + '\n');
