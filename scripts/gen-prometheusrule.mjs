#!/usr/bin/env node
// Writes deploy/kubernetes/base/prometheusrule.yaml from deploy/prometheus/imagewatch-rules.yml, so the
// Prometheus Operator gets exactly the shipped rules. test/unit/deploy-kubernetes.test.ts checks they match.
//   node scripts/gen-prometheusrule.mjs
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";

const root = path.resolve(import.meta.dirname, "..");
const rules = parse(readFileSync(path.join(root, "deploy/prometheus/imagewatch-rules.yml"), "utf8"));
const resource = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PrometheusRule",
  metadata: { name: "imagewatch" },
  spec: { groups: rules.groups },
};
const header =
  "# Generated from deploy/prometheus/imagewatch-rules.yml by scripts/gen-prometheusrule.mjs: edit the rules\n" +
  '# file and run the script again. The rules select job="imagewatch", the job the ServiceMonitor gives.\n';
writeFileSync(
  path.join(root, "deploy/kubernetes/base/prometheusrule.yaml"),
  header + stringify(resource, { lineWidth: 0 }),
);
