// Hosts for network-fault tests: one network namespace per host, each with a veth into a bridge
// that lives in a namespace of its own, so nothing is added to the host's namespace but the
// namespaces themselves. Faults are iptables rules inside a host's namespace. Every process that
// talks over this network runs inside one of its namespaces (`command`).
import { execFileSync } from 'node:child_process';
import { onPath } from '../../src/on-path.js';

const SUBNET = '10.88.0';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** Why namespaces and faults cannot be made here, or false. */
export function netnsMissing(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  if (!onPath('ip')) return "iproute2's ip is not installed";
  if (!onPath('iptables')) return 'iptables is not installed (run scripts/install-iptables.sh)';
  const probe = `pareto-probe-${process.pid}`;
  try {
    sh('ip', ['netns', 'add', probe]);
    sh('ip', ['netns', 'exec', probe, 'iptables', '-L', '-n']);
  } catch (e) {
    return `cannot make a network namespace with iptables here: ${((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()}`;
  } finally {
    try { sh('ip', ['netns', 'del', probe]); } catch { /* never made */ }
  }
  return false;
}

/** Namespaces left by a test process that was killed before it could remove them. */
function removeOrphans(): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const m = /^(pareto-([0-9a-z]+)-\S+)/.exec(line);
    if (!m || alive(parseInt(m[2]!, 36))) continue;
    try { sh('ip', ['netns', 'del', m[1]!]); } catch { /* another run got there first */ }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class TestNetwork {
  private readonly ips = new Map<string, string>();
  private readonly bridgeNs: string;
  private readonly made: string[] = [];
  private removed = false;

  /** Namespaces named `pareto-<pid>-<host>`, on 10.88.0.0/24 in the order given. */
  constructor(hosts: string[]) {
    removeOrphans();
    const tag = process.pid.toString(36);
    this.bridgeNs = `pareto-${tag}-bridge`;
    process.once('exit', () => this.remove());
    try {
      sh('ip', ['netns', 'add', this.bridgeNs]);
      this.made.push(this.bridgeNs);
      this.inNs(this.bridgeNs, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
      this.inNs(this.bridgeNs, ['ip', 'link', 'set', 'br0', 'up']);
      hosts.forEach((host, i) => {
        const ns = this.ns(host);
        const ip = `${SUBNET}.${i + 1}`;
        // Both ends are made in the host's namespace, so their names must be unique there for a moment.
        const [inside, outside] = [`pv${i}-${tag}`, `pb${i}-${tag}`];
        sh('ip', ['netns', 'add', ns]);
        this.made.push(ns);
        sh('ip', ['link', 'add', inside, 'type', 'veth', 'peer', 'name', outside]);
        sh('ip', ['link', 'set', inside, 'netns', ns]);
        sh('ip', ['link', 'set', outside, 'netns', this.bridgeNs]);
        this.inNs(this.bridgeNs, ['ip', 'link', 'set', outside, 'master', 'br0']);
        this.inNs(this.bridgeNs, ['ip', 'link', 'set', outside, 'up']);
        this.inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', inside]);
        this.inNs(ns, ['ip', 'link', 'set', inside, 'up']);
        this.inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
        this.ips.set(host, ip);
      });
    } catch (e) {
      this.remove();
      throw e;
    }
  }

  private ns(host: string): string {
    return `pareto-${process.pid.toString(36)}-${host}`;
  }

  private inNs(ns: string, argv: string[]): string {
    return sh('ip', ['netns', 'exec', ns, ...argv]);
  }

  ip(host: string): string {
    const ip = this.ips.get(host);
    if (!ip) throw new Error(`no host '${host}' in this network`);
    return ip;
  }

  /** argv that runs `argv` inside `host`'s namespace. */
  command(host: string, argv: string[]): string[] {
    this.ip(host);
    return ['ip', 'netns', 'exec', this.ns(host), ...argv];
  }

  /** Adds iptables rules inside `host` (each rule the arguments after `iptables -A`). */
  fault(host: string, rules: string[][]): void {
    for (const rule of rules) this.inNs(this.ns(host), ['iptables', '-A', ...rule]);
  }

  /** Removes every rule inside `host`. */
  heal(host: string): void {
    this.inNs(this.ns(host), ['iptables', '-F']);
  }

  /** Deletes the namespaces (their veths go with them). Processes inside must be stopped first. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    for (const ns of this.made) {
      try { sh('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    }
  }
}
