/**
 * deploy/k8s, checked against the code it deploys, the way the compose wiring
 * test checks docker-compose.yml: every container's environment is loaded
 * with the service's own config loader (an unknown variable, a missing
 * required setting or a bad value fails), images and commands match the
 * Dockerfile, ports agree between listen addresses, containers, probes and
 * Services, every file a setting names is mounted from a documented Secret or
 * volume, the keyholder is a single stateful replica and the aggregator a
 * scalable Deployment, pods run unprivileged with bounded memory, and the
 * bundled Redis is the shipped config whose probe works against a real
 * redis-server with the shipped ACL users.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import type { z } from 'zod';
import { configEnvNames } from '@secagg/core';
import { freePort, REPO_ROOT, redisServerOnPath } from '@secagg/local-cluster';
import { keyholderConfigSchema, loadKeyholderConfig } from '@secagg/keyholder/config';
import { gatewayConfigSchema, loadGatewayConfig } from '@secagg/client-gateway/config';
import { aggregatorConfigSchema, loadAggregatorConfig } from '@secagg/aggregator/config';

// ---- the manifests, as plain objects -------------------------------------------------------

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
}
interface Probe {
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  configMap?: { name: string };
  emptyDir?: object;
  persistentVolumeClaim?: { claimName: string };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  subdomain?: string;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}
interface Workload extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}

const K8S_DIR = join(REPO_ROOT, 'deploy', 'k8s');
const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
  namespace?: string;
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
};
const manifestFiles = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
const manifests: (Manifest & { file: string })[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
    return { ...(doc.toJS() as Manifest), file };
  }),
);
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const operations = readFileSync(join(REPO_ROOT, 'docs', 'OPERATIONS.md'), 'utf8');

function find<T extends Manifest = Manifest>(kind: string, name: string): T {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `${kind}/${name} is defined`);
  return found as unknown as T;
}
const workloads = () => manifests.filter((m): m is Workload & { file: string } => ['Deployment', 'StatefulSet'].includes(m.kind));

/** The Secrets the kustomization header tells operators to create: name -> keys. */
const documentedSecrets = new Map(
  [...readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8').matchAll(/^#\s+(secagg-[a-z0-9-]+)\s+((?:[\w.-]+ )+)\s/gm)].map((m) => [
    m[1]!,
    m[2]!.trim().split(/\s+/),
  ]),
);

// ---- the services -----------------------------------------------------------------------------

interface ServiceUnderTest {
  prefix: string;
  schema: z.ZodObject;
  load: (env: Record<string, string>) => Record<string, unknown>;
  kind: 'StatefulSet' | 'Deployment';
}
const SERVICES: Record<string, ServiceUnderTest> = {
  keyholder: { prefix: 'KEYHOLDER', schema: keyholderConfigSchema, load: loadKeyholderConfig, kind: 'StatefulSet' },
  'client-gateway': { prefix: 'GATEWAY', schema: gatewayConfigSchema, load: loadGatewayConfig, kind: 'Deployment' },
  aggregator: { prefix: 'AGGREGATOR', schema: aggregatorConfigSchema, load: loadAggregatorConfig, kind: 'Deployment' },
};

/** A container's environment as the service will see it: literals, ConfigMap values, and a stand-in for each Secret value. */
function resolveEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = String(v.value);
    else if (v.valueFrom?.configMapKeyRef) {
      const { name, key } = v.valueFrom.configMapKeyRef;
      const value = find('ConfigMap', name).data?.[key];
      assert.ok(value !== undefined, `${container.name}: ${v.name} reads ConfigMap ${name} key ${key}, which it does not have`);
      env[v.name] = value;
    } else if (v.valueFrom?.secretKeyRef) {
      const { name, key } = v.valueFrom.secretKeyRef;
      assert.ok(documentedSecrets.get(name)?.includes(key), `${container.name}: ${v.name} reads Secret ${name} key ${key}, not documented in kustomization.yaml`);
      env[v.name] = `secret:${name}/${key}`;
    } else assert.fail(`${container.name}: ${v.name} has neither a value nor a ConfigMap/Secret reference`);
  }
  return env;
}

function containerOf(service: string): { workload: Workload; pod: PodSpec; container: Container } {
  const workload = find<Workload>(SERVICES[service]!.kind, service);
  const pod = workload.spec.template.spec;
  const container = pod.containers.find((c) => c.name === service);
  assert.ok(container, `${service} has a container named ${service}`);
  return { workload, pod, container };
}

const portOf = (address: string) => Number(address.split(':').pop());
/** Decided before the tests run: a test can be skipped only when it is collected. */
const kubectlInstalled = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 30_000 }).error === undefined;

/** Resolves a port reference (number or container port name) against a container. */
function containerPort(container: Container, ref: number | string): number | undefined {
  return typeof ref === 'number' ? container.ports?.find((p) => p.containerPort === ref)?.containerPort : container.ports?.find((p) => p.name === ref)?.containerPort;
}

/** Pods a Service (or policy) selector picks: the workloads whose pod labels include it. */
function podsSelectedBy(selector: Record<string, string>): Workload[] {
  return workloads().filter((w) => Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
}

/** Whole-number bytes of a Kubernetes quantity (Mi, Gi, M, G, plain). */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(m, `quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] as string] ?? 1;
  return Number(m[1]) * unit;
}

// ---- the checks ---------------------------------------------------------------------------------

describe('deploy/k8s manifests', () => {
  it('are valid YAML objects, all listed in the kustomization, with images it pins', () => {
    assert.deepEqual([...kustomization.resources].sort(), [...manifestFiles].sort(), 'kustomization.yaml lists every manifest file, and only those');
    for (const m of manifests) {
      assert.ok(m.apiVersion && m.kind && m.metadata?.name, `${m.file}: a document without apiVersion/kind/name`);
    }
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    assert.equal(new Set(names).size, names.length, 'no object is defined twice');
    const images = new Set((kustomization.images ?? []).map((i) => i.name));
    for (const service of Object.keys(SERVICES)) assert.ok(images.has(`secagg-${service}`), `kustomization pins the secagg-${service} image`);
  });

  (!kubectlInstalled ? it.skip : it)('build with kustomize into one namespace (when kubectl is installed)', () => {
    const built = spawnSync('kubectl', ['kustomize', K8S_DIR], { encoding: 'utf8', timeout: 60_000 });
    assert.ifError(built.error);
    assert.equal(built.status, 0, built.stderr);
    const objects = parseAllDocuments(built.stdout).map((d) => d.toJS() as Manifest & { metadata: { namespace?: string } });
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort(),
    );
    for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, kustomization.namespace, `${o.kind}/${o.metadata.name} namespace`);
  });

  for (const [service, spec] of Object.entries(SERVICES)) {
    describe(service, () => {
      it('sets only settings the service knows, every required one, and values its config loader accepts', () => {
        const { container } = containerOf(service);
        const known = new Set(Object.values(configEnvNames(spec.prefix, spec.schema)));
        for (const v of container.env ?? []) {
          assert.ok(known.has(v.name), `${service}: ${v.name} is not a setting of the service`);
          assert.doesNotMatch(v.name, /ALLOW_INSECURE|ALLOW_UNSAFE|_TEST_/, `${service}: ${v.name} is a development or test-only setting`);
        }
        // The real loader: required settings, "one of" rules, types and formats.
        assert.doesNotThrow(() => spec.load(resolveEnv(container)), `${service}'s configuration loads`);
      });

      it('runs the image the Dockerfile builds for it, with the Dockerfile entrypoint', () => {
        const { container } = containerOf(service);
        const name = container.image.split('@')[0]!.split('/').pop()!.split(':')[0];
        assert.equal(name, `secagg-${service}`, 'image built with --build-arg SERVICE=<service>');
        assert.equal(container.command, undefined, 'no command: the image entrypoint runs the service');
        assert.equal(container.args, undefined, 'no args');
        assert.ok(!(container.env ?? []).some((v) => v.name === 'SECAGG_SERVICE'), 'SECAGG_SERVICE comes from the image build, not the pod');
        assert.match(dockerfile, /^\s*(ENV\s+)?SECAGG_SERVICE=\$\{SERVICE\}\s*$/m, 'the image bakes its service in (ENV SECAGG_SERVICE from the SERVICE build arg)');
        assert.match(dockerfile, /ENTRYPOINT .*services\/\$\{SECAGG_SERVICE\}\/dist\/main\.js/);
      });

      it('mounts every file and directory its settings name', () => {
        const { pod, container } = containerOf(service);
        const env = resolveEnv(container);
        const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
        const claims = new Set(find<Workload>(spec.kind, service).spec.volumeClaimTemplates?.map((c) => c.metadata.name) ?? []);
        for (const [name, value] of Object.entries(env)) {
          if (!/_(FILE|DIR)$/.test(name)) continue;
          const mount = (container.volumeMounts ?? []).find((m) => value === m.mountPath || value.startsWith(`${m.mountPath}/`));
          assert.ok(mount, `${service}: ${name}=${value} is on no volume`);
          if (name.endsWith('_DIR')) {
            assert.ok(claims.has(mount.name), `${service}: ${name} is on a persistent volume claim`);
            assert.notEqual(mount.readOnly, true, `${service}: ${name} is writable`);
            continue;
          }
          const volume = volumes.get(mount.name);
          assert.ok(volume?.secret, `${service}: ${name} comes from a Secret volume`);
          const file = posix.relative(mount.mountPath, value);
          const keys = documentedSecrets.get(volume.secret.secretName);
          assert.ok(keys, `${service}: Secret ${volume.secret.secretName} is documented in kustomization.yaml`);
          assert.ok(keys.includes(file), `${service}: ${name} reads ${file}, not a documented key of ${volume.secret.secretName} (${keys.join(', ')})`);
        }
      });

      it('gets more time to stop than it drains for, no API token and no fixed identity', () => {
        const { pod, container } = containerOf(service);
        const config = spec.load(resolveEnv(container)) as { shutdownGraceMs: number };
        assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 > config.shutdownGraceMs, 'the kubelet waits longer than the service drains');
        assert.equal(pod.automountServiceAccountToken, false, 'no Kubernetes API token in the pod');
        assert.ok(!(pod.hostname || pod.subdomain), 'no fixed host identity');
      });
    });
  }

  it('runs every pod as a non-root user without privileges, with requests and memory limits', () => {
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${w.metadata.name}: runAsNonRoot`);
      assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, `${w.metadata.name}: a non-root uid`);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${w.metadata.name}: seccomp`);
      assert.deepEqual(w.spec.selector.matchLabels, Object.fromEntries(Object.keys(w.spec.selector.matchLabels).map((k) => [k, w.spec.template.metadata.labels[k]])), `${w.metadata.name}: selector matches its pods`);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${w.metadata.name}/${c.name}`;
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: drops every capability`);
        const { requests, limits } = c.resources ?? {};
        assert.ok(requests?.memory && requests.cpu, `${where}: requests cpu and memory`);
        assert.ok(limits?.memory, `${where}: a memory limit`);
        assert.ok(bytes(limits.memory) >= bytes(requests.memory), `${where}: limit >= request`);
      }
    }
  });

  /** The port a probe checks: a tcpSocket port, or the --address of a secagg-probe exec. */
  function probedPort(probe: { tcpSocket?: { port: number | string }; exec?: { command: string[] } }): number | string | undefined {
    if (probe.tcpSocket) return probe.tcpSocket.port;
    const command = probe.exec?.command ?? [];
    assert.ok(command.includes('packages/observability/dist/probe.js'), 'exec probes run secagg-probe');
    const address = command[command.indexOf('--address') + 1];
    return Number(address?.split(':').pop());
  }

  it('probes every service with gRPC health on the port it listens on (the aggregator on its health listener)', () => {
    const { container } = containerOf('aggregator');
    const listen = portOf(resolveEnv(container).AGGREGATOR_HEALTH_LISTEN_ADDRESS!);
    assert.equal(containerPort(container, 'health'), listen);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      assert.ok(probe, 'aggregator: readiness and liveness probes');
      assert.equal(probedPort(probe), listen, 'aggregator: probes its health listener');
    }
  });

  it('wires ports consistently: listen addresses, container ports, probes, Services and peer addresses', () => {
    for (const service of ['keyholder', 'client-gateway']) {
      const { container } = containerOf(service);
      const env = resolveEnv(container);
      const listen = portOf(env[`${SERVICES[service]!.prefix}_LISTEN_ADDRESS`]!);
      assert.equal(containerPort(container, 'grpc'), listen, `${service}: the grpc container port is the listen port`);
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        assert.ok(probe, `${service}: readiness and liveness probes`);
        assert.equal(probedPort(probe), listen, `${service}: probes the listen port`);
      }
      const svc = find('Service', service);
      assert.deepEqual(podsSelectedBy(svc.spec.selector).map((w) => w.metadata.name), [service], `Service ${service} selects ${service} pods only`);
      for (const port of svc.spec.ports as { port: number; targetPort: number | string }[]) {
        assert.equal(containerPort(container, port.targetPort), listen, `Service ${service} port ${port.port} reaches the listener`);
      }
    }
    // Peers dial host:port of a Service that reaches the keyholder's listener.
    const keyholderListen = portOf(resolveEnv(containerOf('keyholder').container).KEYHOLDER_LISTEN_ADDRESS!);
    for (const [service, variable] of [['client-gateway', 'GATEWAY_KEYHOLDER_ADDRESS'], ['aggregator', 'AGGREGATOR_KEYHOLDER_ADDRESS']] as const) {
      const [host, port] = resolveEnv(containerOf(service).container)[variable]!.split(':');
      const svc = find('Service', host!);
      const target = (svc.spec.ports as { port: number; targetPort: number | string }[]).find((p) => p.port === Number(port));
      assert.ok(target, `${service}: Service ${host} has port ${port}`);
      assert.deepEqual(podsSelectedBy(svc.spec.selector).map((w) => w.metadata.name), ['keyholder']);
      assert.equal(containerPort(containerOf('keyholder').container, target.targetPort), keyholderListen, `${service} reaches the keyholder listener`);
    }
  });

  it('shares the key prefix between gateway, aggregators and the Redis ACL from one ConfigMap key', () => {
    const refs = [
      containerOf('client-gateway').container.env?.find((v) => v.name === 'GATEWAY_KEY_PREFIX'),
      containerOf('aggregator').container.env?.find((v) => v.name === 'AGGREGATOR_KEY_PREFIX'),
      find<Workload>('StatefulSet', 'redis').spec.template.spec.initContainers?.[0]?.env?.find((v) => v.name === 'SECAGG_KEY_PREFIX'),
    ].map((v) => v?.valueFrom?.configMapKeyRef);
    for (const ref of refs) assert.deepEqual(ref, refs[0], 'the same ConfigMap key');
    assert.ok(refs[0], 'from a ConfigMap');
  });

  it('gives the gateway and every aggregator the same ReadWriteMany ciphertext volume, where their ciphertext store points', () => {
    const claim = manifests.find((m) => m.kind === 'PersistentVolumeClaim' && m.metadata.name === 'secagg-ciphertexts');
    assert.ok(claim, 'the shared claim exists');
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany'], 'several pods mount it at once');
    for (const [service, prefix] of [['client-gateway', 'GATEWAY'], ['aggregator', 'AGGREGATOR']] as const) {
      const { pod, container } = containerOf(service);
      const store = resolveEnv(container)[`${prefix}_CIPHERTEXT_STORE`]!;
      const mount = (container.volumeMounts ?? []).find((m) => store.startsWith(`${m.mountPath}/`) || store === m.mountPath);
      assert.ok(mount, `${service}: ${store} is on a volume`);
      assert.notEqual(mount.readOnly, true, `${service}: the ciphertext store is writable`);
      const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
      assert.equal(volume?.persistentVolumeClaim?.claimName, 'secagg-ciphertexts', `${service}: on the shared claim`);
    }
  });

  it('keeps the keyholder a single replica with its store on a persistent volume', () => {
    const { workload, container } = containerOf('keyholder');
    assert.equal(workload.kind, 'StatefulSet');
    assert.equal(workload.spec.replicas, 1, 'exactly one keyholder: one ledger');
    const dataDir = resolveEnv(container).KEYHOLDER_DATA_DIR!;
    const mount = container.volumeMounts?.find((m) => m.mountPath === dataDir);
    assert.ok(mount && workload.spec.volumeClaimTemplates?.some((c) => c.metadata.name === mount.name), 'data dir on the claim');
    assert.ok(!manifests.some((m) => m.kind === 'HorizontalPodAutoscaler' && m.spec.scaleTargetRef.name === 'keyholder'), 'never autoscaled');
  });

  it('makes the aggregator horizontally scalable: a Deployment without identity, scaled on CPU', () => {
    const { workload, pod, container } = containerOf('aggregator');
    assert.equal(workload.kind, 'Deployment');
    assert.equal(workload.spec.replicas, undefined, 'the autoscaler owns the replica count');
    assert.equal(workload.spec.volumeClaimTemplates, undefined, 'no per-pod storage');
    assert.deepEqual(
      (pod.volumes ?? []).filter((v) => v.persistentVolumeClaim).map((v) => v.persistentVolumeClaim!.claimName),
      ['secagg-ciphertexts'],
      'only the shared ciphertext claim',
    );
    const hpa = manifests.find((m) => m.kind === 'HorizontalPodAutoscaler' && m.spec.scaleTargetRef.name === 'aggregator');
    assert.ok(hpa, 'an autoscaler for the aggregator');
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas, 'at least two, room to grow');
    assert.ok(
      (hpa.spec.metrics as { resource?: { name: string } }[]).some((m) => m.resource?.name === 'cpu'),
      'scaled on CPU',
    );
    assert.ok(container.resources?.requests?.cpu, 'a CPU request, which utilization is measured against');
    // The fold memory the manifest budgets: ranges held x (range bytes + a read block), within the limit.
    const config = loadAggregatorConfig(resolveEnv(container));
    const foldBytes = config.maxRangesHeld * (config.ciphertextsPerRange * 65_649 + config.readBlockBytes);
    assert.ok(foldBytes + 256 * 1024 * 1024 <= bytes(container.resources!.limits!.memory!), 'maxRangesHeld x range bytes + runtime within the memory limit');
  });

  it('lets only the gateway and the aggregators reach the keyholder and Redis', () => {
    for (const target of ['keyholder', 'redis']) {
      const policy = manifests.find((m) => m.kind === 'NetworkPolicy' && m.spec.podSelector.matchLabels['app.kubernetes.io/name'] === target);
      assert.ok(policy, `a NetworkPolicy for ${target}`);
      const peers = (policy.spec.ingress as { from: { podSelector: { matchLabels: Record<string, string> } }[] }[]).flatMap((rule) =>
        rule.from.map((f) => podsSelectedBy(f.podSelector.matchLabels).map((w) => w.metadata.name)).flat(),
      );
      assert.deepEqual(peers.sort(), ['aggregator', 'client-gateway'], `${target} admits exactly the gateway and the aggregators`);
    }
  });

  it('documents every Secret it reads in docs/OPERATIONS.md', () => {
    const used = new Set<string>();
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      for (const v of pod.volumes ?? []) if (v.secret) used.add(v.secret.secretName);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) used.add(e.valueFrom.secretKeyRef.name);
    }
    assert.deepEqual([...used].sort(), [...documentedSecrets.keys()].sort(), 'kustomization.yaml documents exactly the Secrets the pods read');
    for (const name of used) assert.ok(operations.includes(name), `docs/OPERATIONS.md explains how to create ${name}`);
  });

  describe('the bundled Redis', () => {
    const statefulSet = find<Workload>('StatefulSet', 'redis');
    const pod = statefulSet.spec.template.spec;
    const redis = pod.containers[0]!;
    const render = pod.initContainers?.find((c) => c.name === 'render-acl');

    it('runs the shipped redis.conf and ACL users, verbatim', () => {
      const copies: [string, string, string][] = [
        ['redis-config', 'redis.conf', 'config/redis.conf'],
        ['redis-acl', 'redis-users.acl.template', 'config/redis-users.acl.template'],
        ['redis-acl', 'render-redis-acl.sh', 'config/render-redis-acl.sh'],
      ];
      for (const [configMap, key, file] of copies) {
        assert.equal(find('ConfigMap', configMap).data?.[key], readFileSync(join(REPO_ROOT, file), 'utf8'), `ConfigMap ${configMap} ${key} is ${file}, byte for byte`);
      }
      const [binary, confPath] = redis.command ?? [];
      assert.equal(binary, 'redis-server');
      const mount = redis.volumeMounts?.find((m) => m.mountPath === dirname(confPath!));
      assert.equal(pod.volumes?.find((v) => v.name === mount?.name)?.configMap?.name, 'redis-config', 'the config file is the ConfigMap');
      assert.equal(containerPort(redis, find('Service', 'redis').spec.ports[0].targetPort), 6379);
    });

    it('caps Redis memory below its container limit (noeviction then refuses writes instead of an OOM kill)', () => {
      const command = redis.command ?? [];
      const maxmemory = command[command.indexOf('--maxmemory') + 1];
      assert.ok(command.includes('--maxmemory') && maxmemory, '--maxmemory is set');
      const limit = bytes(redis.resources!.limits!.memory!);
      const cap = bytes(maxmemory.replace(/gb$/i, 'Gi').replace(/mb$/i, 'Mi'));
      assert.ok(cap <= 0.8 * limit, `maxmemory ${maxmemory} leaves room under the ${redis.resources!.limits!.memory} limit`);
    });

    (!redisServerOnPath() ? it.skip : it)('renders the ACL file and answers its probe, run as the pod would on a real redis-server', async () => {
      assert.ok(render, 'an init container renders the ACL file');
      const root = mkdtempSync(join(tmpdir(), 'secagg-k8s-redis-'));
      // Container paths -> host paths: ConfigMap volumes are the shipped files in config/
      // (their keys are those file names, checked above), other volumes dirs under `root`.
      const hostPath = (c: Container, path: string) => {
        for (const m of c.volumeMounts ?? []) {
          if (!path.startsWith(`${m.mountPath}/`)) continue;
          const volume = pod.volumes?.find((v) => v.name === m.name);
          const base = volume?.configMap ? join(REPO_ROOT, 'config') : join(root, m.name);
          return join(base, path.slice(m.mountPath.length + 1));
        }
        return path;
      };
      for (const v of pod.volumes ?? []) if (!v.configMap) mkdirSync(join(root, v.name));
      for (const claim of statefulSet.spec.volumeClaimTemplates ?? []) mkdirSync(join(root, claim.metadata.name));
      let server: ChildProcess | undefined;
      try {
        // The init container, with a valid password standing in for each Secret value.
        const env = Object.fromEntries(
          (render.env ?? []).map((v) => [v.name, v.valueFrom?.secretKeyRef ? `k8s-test-${v.name.toLowerCase().replace(/_/g, '-')}` : resolveEnv({ ...render, env: [v] })[v.name]!]),
        );
        const [shell, ...args] = render.command!;
        const rendered = spawnSync(shell!, args.map((a) => hostPath(render, a)), { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
        assert.equal(rendered.status, 0, `render-acl: ${rendered.stderr}`);
        // The Redis container's command, paths mapped; the port and dir are the test's.
        const port = await freePort();
        const [binary, ...serverArgs] = redis.command!.map((a) => hostPath(redis, a));
        const dataDir = hostPath(redis, `${redis.volumeMounts!.find((m) => m.name === 'data')!.mountPath}/.`);
        server = spawn(binary!, [...serverArgs, '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        server.stdout!.on('data', (d) => (output += d));
        server.stderr!.on('data', (d) => (output += d));
        const probe = (command: string[]) => {
          const [cli, ...cliArgs] = command;
          return spawnSync(cli!, ['-p', String(port), ...cliArgs], { encoding: 'utf8', timeout: 10_000 });
        };
        // Wait with the readiness probe itself: it must turn ready (the default user is off, so only the probe's user can PING).
        const deadline = Date.now() + 15_000;
        while (probe(redis.readinessProbe!.exec!.command).status !== 0) {
          assert.ok(server.exitCode === null, `redis-server exited: its command or ACL file is wrong:\n${output}`);
          assert.ok(Date.now() < deadline, 'the readiness probe never passed');
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const p of [redis.readinessProbe, redis.livenessProbe]) assert.match(probe(p!.exec!.command).stdout, /PONG/);
        // The probe can fail: the same command for a user Redis does not know exits non-zero.
        const stranger = redis.livenessProbe!.exec!.command.map((a, i, all) => (all[i - 1] === '--user' ? 'nobody' : a));
        assert.notEqual(probe(stranger).status, 0);
      } finally {
        if (server && server.exitCode === null) {
          const exited = new Promise((r) => server!.once('exit', r));
          server.kill('SIGTERM');
          await exited;
        }
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
