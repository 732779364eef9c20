// The Kubernetes manifests, checked offline (no cluster runs here): every object against the
// Kubernetes OpenAPI schemas that kubernetes-models ships, and against Pareto itself: container
// arguments and environment variables the CLI really has, probes on the protocol's health paths,
// ports that exist, the tenants file valid, every file in the kustomization.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { gatewayCommand } from '../../src/cli/gateway.js';
import { workerCommand } from '../../src/cli/serve.js';
import { TenantsFileSchema } from '../../src/tenancy/tenants-config.js';

const DIR = new URL('../../../deploy/kubernetes', import.meta.url).pathname;
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = files.flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => ({ file: f, obj: d.toJSON() as any })));

async function modelClass(apiVersion: string, kind: string): Promise<(new (o: unknown) => { validate(): void }) | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [undefined, apiVersion];
  const mod = await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
  return mod[kind];
}

const commands: Record<string, Command> = { worker: workerCommand(), gateway: gatewayCommand() };

describe('Kubernetes manifests', () => {
  it('every object is valid against the Kubernetes schemas', async () => {
    assert.ok(objects.length >= 9, `${objects.length} objects`);
    for (const { file, obj } of objects) {
      const Model = await modelClass(obj.apiVersion, obj.kind);
      assert.ok(Model, `${file}: no schema for ${obj.apiVersion} ${obj.kind}`);
      assert.doesNotThrow(() => new Model(obj).validate(), `${file}: ${obj.kind} ${obj.metadata?.name}`);
    }
  });

  it('the schema check catches a broken object (it is not a no-op)', async () => {
    const deployment = structuredClone(objects.find((o) => o.obj.kind === 'Deployment')!.obj);
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
    const Model = (await modelClass('apps/v1', 'Deployment'))!;
    assert.throws(() => new Model(deployment).validate());
  });

  it('containers pass only flags and PARETO_* variables the CLI has, and probe the health paths on ports they open', () => {
    const containers = objects.filter((o) => o.obj.kind === 'Deployment').flatMap((o) => o.obj.spec.template.spec.containers.map((c: any) => ({ file: o.file, c })));
    let checked = 0;
    for (const { file, c } of containers) {
      if (!c.image.startsWith('pareto:')) continue;
      const [role, ...args] = c.args as string[];
      const cmd = commands[role];
      assert.ok(cmd, `${file}: unknown role ${role}`);
      const longs = new Set(cmd.options.map((o) => o.long));
      for (const a of args.filter((x) => x.startsWith('--'))) assert.ok(longs.has(a), `${file}: pareto ${role} has no ${a}`);
      const envs = new Set(cmd.options.map((o) => o.envVar).filter(Boolean));
      for (const e of c.env ?? []) assert.ok(envs.has(e.name), `${file}: pareto ${role} reads no ${e.name}`);
      const ports = new Set((c.ports as any[]).map((p) => p.name));
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
        assert.match(probe.httpGet.path, /^\/v2\/health\/(ready|live)$/);
        assert.ok(ports.has(probe.httpGet.port), `${file}: probe on unknown port ${probe.httpGet.port}`);
      }
      checked++;
    }
    assert.equal(checked, 2);
  });

  it('the HPA scales the worker Deployment on the metric the gateway exports', () => {
    const hpa = objects.find((o) => o.obj.kind === 'HorizontalPodAutoscaler')!.obj;
    assert.ok(objects.some((o) => o.obj.kind === 'Deployment' && o.obj.metadata.name === hpa.spec.scaleTargetRef.name));
    const src = readFileSync(new URL('../../../src/cluster/gateway.ts', import.meta.url), 'utf8');
    assert.ok(src.includes(`'${hpa.spec.metrics[0].external.metric.name}'`));
  });

  it('the tenants ConfigMap is a valid tenants file, and the kustomization lists every manifest', () => {
    const cm = objects.find((o) => o.obj.kind === 'ConfigMap' && o.obj.metadata.name === 'pareto-tenants')!.obj;
    assert.ok(TenantsFileSchema.safeParse(parseYaml(cm.data['tenants.yaml'])).success);
    const kustomization = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'));
    assert.deepEqual([...kustomization.resources].sort(), [...files].sort());
  });
});
