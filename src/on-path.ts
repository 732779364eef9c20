// Whether a program is installed: on the PATH, as a shell would find it. Tests and benches that
// need a system package (redis-server, iptables, buildah, wrk) skip or stop saying which one.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, command)));
}
