/**
 * Checks the kustomize base and the three-shard overlay in deploy/kubernetes. Each is built with
 * `kubectl kustomize` when kubectl is installed, and always with a small resolver of its own (resources,
 * configMapGenerator, replicas, images, labels: what these kustomizations use), so CI without kubectl
 * checks the same things: the headless Service matches serviceName, Parallel pod management, a restrictive
 * securityContext, probes on /-/healthy and /-/ready, resources, an embedded config that loads with the
 * Secret's keys and a sharding.count equal to the replicas, and a PrometheusRule identical to the rules file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { parseConfigText } from "../../src/config/load.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const K8S = path.join(ROOT, "deploy/kubernetes");
const RULES = path.join(ROOT, "deploy/prometheus/imagewatch-rules.yml");

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below
type Obj = Record<string, any>;

interface Kustomization {
  resources?: string[];
  labels?: { pairs: Record<string, string> }[];
  configMapGenerator?: { name: string; behavior?: string; files?: string[] }[];
  replicas?: { name: string; count: number }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

/** Resolves a kustomization directory the way kustomize does, for the features these files use. */
function resolveKustomization(dir: string): Obj[] {
  const k = parse(readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as Kustomization;
  let objects: Obj[] = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (statSync(p).isDirectory()) objects.push(...resolveKustomization(p));
    else objects.push(...parseAllDocuments(readFileSync(p, "utf8")).map((d) => d.toJS() as Obj));
  }
  for (const g of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const f of g.files ?? []) data[path.basename(f)] = readFileSync(path.resolve(dir, f), "utf8");
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name }, data };
    const at = objects.findIndex((o) => o.kind === "ConfigMap" && o.metadata.name === g.name);
    if (g.behavior === "replace" || g.behavior === "merge") {
      assert.ok(at >= 0, `${dir}: configMapGenerator ${g.name} ${g.behavior}s a ConfigMap the base lacks`);
      objects[at] = g.behavior === "replace" ? cm : { ...cm, data: { ...objects[at]?.data, ...data } };
    } else {
      assert.equal(at, -1, `${dir}: ConfigMap ${g.name} generated twice`);
      objects.push(cm);
    }
  }
  for (const r of k.replicas ?? []) {
    const target = objects.find((o) => o.metadata.name === r.name && o.spec?.replicas !== undefined);
    assert.ok(target, `${dir}: replicas names ${r.name}, which has no replicas field`);
    target.spec.replicas = r.count;
  }
  for (const img of k.images ?? []) {
    for (const o of objects) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        if (c.image === img.name) c.image = `${img.newName ?? img.name}:${img.newTag ?? "latest"}`;
      }
    }
  }
  for (const l of k.labels ?? []) {
    objects = objects.map((o) => ({
      ...o,
      metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...l.pairs } },
    }));
  }
  return objects;
}

/** `kubectl kustomize DIR`, or undefined when kubectl is not installed. */
function kubectlKustomize(dir: string): Obj[] | undefined {
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  assert.equal(r.status, 0, `kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

function one(objects: Obj[], kind: string): Obj {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `want one ${kind}, got ${found.length}`);
  return found[0] as Obj;
}

/** Every check of one built kustomization; `replicas` is what the build must give. */
function checkBuild(objects: Obj[], replicas: number): void {
  const sts = one(objects, "StatefulSet");
  const svc = one(objects, "Service");
  const cm = one(objects, "ConfigMap");
  const secret = one(objects, "Secret");
  const monitor = one(objects, "ServiceMonitor");
  const rule = one(objects, "PrometheusRule");
  const pod = sts.spec.template.spec;
  const container = pod.containers.find((c: Obj) => c.name === "imagewatch");
  assert.ok(container, "no imagewatch container");

  // The headless Service the StatefulSet names, selecting its pods.
  assert.equal(sts.spec.serviceName, svc.metadata.name);
  assert.equal(svc.spec.clusterIP, "None");
  const podLabels = sts.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(podLabels[k], v, `selector ${k}`);
  for (const [k, v] of Object.entries(sts.spec.selector.matchLabels)) assert.equal(podLabels[k], v);
  const portNames = container.ports.map((p: Obj) => p.name);
  for (const p of svc.spec.ports) assert.ok(portNames.includes(p.targetPort), `Service port ${p.targetPort}`);

  assert.equal(sts.spec.podManagementPolicy, "Parallel");
  assert.equal(sts.spec.replicas, replicas);

  // Non-root, read-only root filesystem, no privilege escalation, no capabilities.
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.ok(pod.securityContext.fsGroup > 0, "fsGroup: the data volume must be writable by the user");
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  assert.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory, "resource requests");

  assert.equal(container.readinessProbe.httpGet.path, "/-/ready");
  assert.equal(container.livenessProbe.httpGet.path, "/-/healthy");
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    assert.ok(portNames.includes(probe.httpGet.port), `probe port ${probe.httpGet.port}`);
  }

  // The config: mounted where the args point, loading with the Secret's keys as the env gives them, one
  // shard per replica, its database on the data volume.
  const configVolume = pod.volumes.find((v: Obj) => v.configMap);
  assert.equal(configVolume.configMap.name, cm.metadata.name);
  const configMount = container.volumeMounts.find((m: Obj) => m.name === configVolume.name);
  const configArg = container.args[container.args.indexOf("-c") + 1];
  assert.equal(path.posix.dirname(configArg), configMount.mountPath);
  const configText = cm.data[path.posix.basename(configArg)];
  assert.ok(configText, `ConfigMap has no ${path.posix.basename(configArg)}`);
  const secretValues: Record<string, string> = { ...secret.stringData };
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      assert.equal(ref.name, secret.metadata.name, `${e.name} reads another Secret`);
      assert.ok(ref.key in secretValues, `Secret has no key ${ref.key}`);
      env[e.name] = secretValues[ref.key] as string;
    } else env[e.name] = e.value;
  }
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const { config } = parseConfigText(
      configText,
      { ...env, HOSTNAME: `${sts.metadata.name}-${ordinal}` },
      "cm",
    );
    assert.equal(config.sharding.count, replicas, "sharding.count must equal the replicas");
    assert.equal(config.sharding.index, ordinal);
    const dataMount = container.volumeMounts.find((m: Obj) => m.name === "data");
    assert.equal(
      path.posix.dirname(config.state.path),
      dataMount.mountPath,
      "state.path is not on the data volume",
    );
  }
  assert.ok(sts.spec.volumeClaimTemplates.some((v: Obj) => v.metadata.name === "data"));

  // Scraped as job="imagewatch" (the Service's name), the job the rules and the dashboard select.
  assert.equal(svc.metadata.name, "imagewatch");
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
    assert.equal(
      svc.metadata.labels?.[k],
      v,
      `ServiceMonitor selects ${k}=${String(v)}, the Service lacks it`,
    );
  }
  assert.ok(svc.spec.ports.some((p: Obj) => p.name === monitor.spec.endpoints[0].port));
  assert.equal(monitor.spec.jobLabel, undefined, "jobLabel would change the job label the rules select");
  assert.match(readFileSync(RULES, "utf8"), /job="imagewatch"/);
  assert.deepEqual(
    rule.spec.groups,
    (parse(readFileSync(RULES, "utf8")) as Obj).groups,
    "prometheusrule.yaml differs from deploy/prometheus/imagewatch-rules.yml: run node scripts/gen-prometheusrule.mjs",
  );
}

describe("deploy/kubernetes", () => {
  for (const [dir, replicas] of [
    ["base", 1],
    ["overlays/three-shards", 3],
  ] as const) {
    it(`${dir} (own resolver) builds and has every required field`, () => {
      checkBuild(resolveKustomization(path.join(K8S, dir)), replicas);
    });
    it(`${dir} builds with kubectl kustomize (when installed) and passes the same checks`, (t) => {
      const objects = kubectlKustomize(path.join(K8S, dir));
      if (!objects) {
        t.skip("kubectl not installed: the own resolver's test covers it");
        return;
      }
      checkBuild(objects, replicas);
      const names = (os: Obj[]) =>
        os.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, "")}`).sort();
      assert.deepEqual(names(objects), names(resolveKustomization(path.join(K8S, dir))));
    });
  }

  it("the resolver notices a broken kustomization (a Service that does not match serviceName)", () => {
    const objects = resolveKustomization(path.join(K8S, "base"));
    one(objects, "Service").metadata.name = "other";
    assert.throws(() => checkBuild(objects, 1));
  });
});

describe("every YAML file under deploy/ parses", () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(n)) files.push(p);
    }
  };
  walk(path.join(ROOT, "deploy"));
  it("finds the files", () => assert.ok(files.length >= 10, `only ${files.length} YAML files`));
  for (const f of files) {
    it(path.relative(ROOT, f), () => {
      for (const doc of parseAllDocuments(readFileSync(f, "utf8"))) {
        assert.deepEqual(doc.errors, [], doc.errors.map((e) => e.message).join("; "));
      }
    });
  }
});
