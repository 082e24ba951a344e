// deploy/kubernetes/ is checked without a cluster: every object against the Kubernetes API schema of its kind
// (kubernetes-models, the OpenAPI schemas compiled for ajv; `kubectl apply --dry-run=client` needs a server
// for those), and against what Tessera itself expects — the probes it serves, the shutdown it performs, the
// variables it reads, the user its image runs as.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { ROOT } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const DIR = join(ROOT, 'deploy/kubernetes');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };

const SCHEMAS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function load(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Manifest;
  });
}

const kustomization = load('kustomization.yaml')[0]!;
const objects = (kustomization.resources as string[]).flatMap(load);
const one = (kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const deployment = one('Deployment');
const pod = deployment.spec.template.spec;
const server = pod.containers[0];
const job = one('Job');
const secret = one('Secret');

describe('deploy/kubernetes', () => {
  it('lists every manifest in the kustomization, and each object is valid for its kind', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...(kustomization.resources as string[])].sort()).toEqual(files.sort());
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'Job', 'PodDisruptionBudget', 'Secret', 'Service']);
    for (const object of objects) {
      const Schema = SCHEMAS[`${object.apiVersion}/${object.kind}`];
      expect(Schema, `${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Schema!(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it('rejects a broken manifest (the validator is not a no-op)', () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'three thousand';
    expect(() => new Deployment(broken).validate()).toThrow(/containerPort/);
    const unnamed = structuredClone(deployment);
    delete unnamed.spec.selector;
    expect(() => new Deployment(unnamed).validate()).toThrow(/selector/);
  });

  it('routes the Service and the PodDisruptionBudget to the Deployment\'s pods, on the port Tessera listens on', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    expect(one('Service').spec.selector).toEqual(labels);
    expect(one('PodDisruptionBudget').spec.selector.matchLabels).toEqual(labels);
    const http = server.ports.find((p: { name: string }) => p.name === 'http');
    expect(http.containerPort).toBe(3000); // PORT's default in the image
    expect(one('Service').spec.ports[0].targetPort).toBe('http');
  });

  it('drains before it is killed: a preStop pause, then SIGTERM, within the grace period', () => {
    expect(server.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    const timeout = Number(server.env.find((e: { name: string }) => e.name === 'SHUTDOWN_TIMEOUT').value);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5 + timeout);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('runs as the image\'s unprivileged user with a read-only root file system and a writable /tmp', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m); // uid 1000 in node images
    for (const spec of [pod, job.spec.template.spec]) {
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(spec.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
    const tmp = pod.volumes.find((v: { name: string }) => v.name === server.volumeMounts[0].name);
    expect(server.volumeMounts[0].mountPath).toBe('/tmp');
    expect(tmp.emptyDir).toBeDefined();
  });

  it('gives Tessera a configuration it accepts once the Secret is filled in, and refuses the placeholder', () => {
    const env = Object.fromEntries(server.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(server.envFrom[0].secretRef.name).toBe(secret.metadata.name);
    expect(Object.keys(secret.stringData).sort()).toEqual(['DATABASE_URL', 'TESSERA_SECRET']);
    const filled = parseConfig({ ...env, ...secret.stringData, TESSERA_SECRET: 'x'.repeat(48) });
    expect(filled.ok ? [] : filled.problems).toEqual([]);
    // Applying the manifests unedited fails loudly instead of running on a published secret.
    const placeholder = parseConfig({ ...env, ...secret.stringData });
    expect(placeholder.ok ? [] : placeholder.problems.join('\n')).toMatch(/TESSERA_SECRET/);
  });

  it('migrates with the same image and secret in the Job', () => {
    const migrate = job.spec.template.spec.containers[0];
    expect(migrate.image).toBe(server.image);
    expect(migrate.envFrom).toEqual(server.envFrom);
    expect(migrate.command).toEqual(['node', 'bin/tessera.js', 'migrate']);
    expect(existsSync(join(ROOT, 'bin/tessera.js'))).toBe(true);
  });

  describe('probes', () => {
    let live: TestServer;
    beforeAll(async () => {
      live = await startTestServer();
    });
    afterAll(async () => {
      await live?.close();
    });

    it('point at paths the server answers with 200 when healthy', async () => {
      const paths = [server.startupProbe, server.readinessProbe, server.livenessProbe].map((p) => p.httpGet.path);
      expect(paths).toEqual(['/healthz', '/readyz', '/healthz']);
      for (const path of new Set(paths)) expect((await fetch(`${live.issuer}${path}`)).status, path).toBe(200);
    });
  });
});
