// Validates gwsim's Kubernetes manifests offline: every object against the Kubernetes API schema
// of its apiVersion and kind (the validators that the `kubernetes-models` packages generate from
// the Kubernetes OpenAPI spec), then gwsim's own deployment rules, which the API schema cannot
// express (N agrees everywhere, the shard Job is Indexed, pods run as non-root on a read-only
// root filesystem, the metrics port is named). Reads multi-document YAML from the files given
// (or stdin) and exits 1 listing every problem found.
//
// Usage: node validate.mjs [--label NAME] [FILE...]
//        node validate.mjs [--label NAME] --base DIR   (no kustomize: DIR's resources and generated
//                                                       ConfigMaps, read directly)
//        node validate.mjs --base DIR --dump          (those objects as YAML, unchecked)
//
// What the schemas do not catch: an unknown field (a misspelt key) is not an error in the
// Kubernetes schemas, as in the API server without strict validation. The rules below check by
// name the fields gwsim depends on, so a misspelling of one of those is caught there.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";

const args = process.argv.slice(2);
let label = "manifests";
let base = null;
let dump = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--label") label = args[++i];
  else if (args[i] === "--base") base = args[++i];
  else if (args[i] === "--dump") dump = true;
  else files.push(args[i]);
}

const problems = [];
const problem = (where, what) => problems.push(`${label}: ${where}: ${what}`);

function readDocs(text, source) {
  const out = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problem(source, `YAML: ${e.message}`);
      continue;
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

// Without a kustomize: the base's resource files as they are, and its configMapGenerator entries
// made into ConfigMaps (literals and files; no hash suffix, which the rules do not need).
function readBase(dir) {
  const k = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
  const out = [];
  for (const r of k.resources ?? []) out.push(...readDocs(readFileSync(join(dir, r), "utf8"), r));
  for (const g of k.configMapGenerator ?? []) {
    const data = {};
    for (const l of g.literals ?? []) {
      const at = l.indexOf("=");
      data[l.slice(0, at)] = l.slice(at + 1);
    }
    for (const f of g.files ?? []) {
      const [key, path] = f.includes("=") ? f.split("=", 2) : [f, f];
      data[key] = readFileSync(join(dir, path), "utf8");
    }
    out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name }, data });
  }
  return out;
}

const objects = [];
if (base !== null) {
  objects.push(...readBase(base));
} else if (files.length === 0) {
  objects.push(...readDocs(readFileSync(0, "utf8"), "stdin"));
} else {
  for (const f of files) objects.push(...readDocs(readFileSync(f, "utf8"), f));
}
if (dump) {
  process.stdout.write(objects.map((o) => stringify(o)).join("---\n"));
  process.exit(0);
}
if (objects.length === 0) problem("input", "no Kubernetes objects");

const name = (o) => `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;

// 1. The Kubernetes API schema of each object. `batch/v1` is module `kubernetes-models/batch/v1`,
// core `v1` is `kubernetes-models/v1`; the class of the kind validates an object of that kind.
for (const o of objects) {
  if (typeof o !== "object" || typeof o.apiVersion !== "string" || typeof o.kind !== "string") {
    problem(name(o), "not a Kubernetes object (no apiVersion or kind)");
    continue;
  }
  let module;
  try {
    module = await import(`kubernetes-models/${o.apiVersion}`);
  } catch {
    problem(name(o), `unknown apiVersion ${o.apiVersion}`);
    continue;
  }
  const Model = module[o.kind];
  if (typeof Model !== "function") {
    problem(name(o), `${o.apiVersion} has no kind ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    // The validator's message lists every failing path ("data/spec/parallelism must be integer").
    problem(name(o), String(e.message ?? e));
  }
}

// 2. gwsim's own rules.
const find = (kind, prefix) =>
  objects.find((o) => o?.kind === kind && String(o?.metadata?.name ?? "").startsWith(prefix));
const run = find("ConfigMap", "gwsim-run");
const shards = find("Job", "gwsim-shards");
const merge = find("Job", "gwsim-merge");
const pvc = find("PersistentVolumeClaim", "gwsim-results");
for (const [what, o] of [["ConfigMap gwsim-run", run], ["Job gwsim-shards", shards],
  ["Job gwsim-merge", merge], ["PersistentVolumeClaim gwsim-results", pvc]]) {
  if (!o) problem("gwsim", `${what} is missing`);
}

const n = Number(run?.data?.GWSIM_SHARDS);
if (run && !(Number.isInteger(n) && n >= 1)) {
  problem(name(run), `data.GWSIM_SHARDS must be a whole number ≥ 1, not ${run?.data?.GWSIM_SHARDS}`);
}
for (const key of ["GWSIM_TARGET", "GWSIM_START_AT", "GWSIM_MERGE_WAIT_SECONDS"]) {
  if (run && !run.data?.[key]) problem(name(run), `data.${key} is not set`);
}

if (shards) {
  const s = shards.spec ?? {};
  if (s.completionMode !== "Indexed") {
    problem(name(shards), `spec.completionMode must be Indexed (each pod's JOB_COMPLETION_INDEX is its shard), not ${s.completionMode}`);
  }
  for (const key of ["parallelism", "completions"]) {
    if (s[key] !== n) {
      problem(name(shards), `spec.${key} is ${JSON.stringify(s[key])}, but GWSIM_SHARDS is ${run?.data?.GWSIM_SHARDS}: every shard must run, all at once`);
    }
  }
  const pod = s.template?.spec ?? {};
  if (s.template?.metadata?.labels?.["app.kubernetes.io/name"] !== "gwsim") {
    problem(name(shards), "pod label app.kubernetes.io/name: gwsim is missing (the Prometheus scrape selects on it)");
  }
  const c = (pod.containers ?? []).find((c) => c.name === "gwsim");
  if (!c) {
    problem(name(shards), "no container named gwsim");
  } else {
    const script = [...(c.command ?? []), ...(c.args ?? [])].join(" ");
    for (const flag of ["--shards", "--start-at", "--out", "--password-env", "--prometheus 0.0.0.0:9464"]) {
      if (!script.includes(flag)) problem(name(shards), `the gwsim command has no ${flag}`);
    }
    const port = (c.ports ?? []).find((p) => p.name === "metrics");
    if (port?.containerPort !== 9464) {
      problem(name(shards), "container port `metrics` (9464) is missing");
    }
    const secret = (c.env ?? []).find((e) => e.valueFrom?.secretKeyRef);
    if (!secret) problem(name(shards), "the agents' password does not come from a Secret");
  }
}

for (const job of [shards, merge].filter(Boolean)) {
  const pod = job.spec?.template?.spec ?? {};
  if (pod.securityContext?.runAsNonRoot !== true) {
    problem(name(job), "spec.template.spec.securityContext.runAsNonRoot must be true");
  }
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    if (c.securityContext?.readOnlyRootFilesystem !== true) {
      problem(name(job), `container ${c.name}: securityContext.readOnlyRootFilesystem must be true`);
    }
    if (c.securityContext?.allowPrivilegeEscalation !== false) {
      problem(name(job), `container ${c.name}: securityContext.allowPrivilegeEscalation must be false`);
    }
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) {
      problem(name(job), `container ${c.name}: resources.requests.cpu and .memory must be set`);
    }
  }
  const claims = (pod.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter(Boolean);
  if (pvc && !claims.includes(pvc.metadata.name)) {
    problem(name(job), `does not mount the results volume ${pvc.metadata.name}`);
  }
}
if (merge && (merge.spec?.template?.spec?.initContainers ?? []).length === 0) {
  problem(name(merge), "has no initContainer waiting for the shards");
}
if (pvc && !(pvc.spec?.accessModes ?? []).includes("ReadWriteMany")) {
  problem(name(pvc), "accessModes must include ReadWriteMany (pods on many nodes write to it)");
}

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`${label}: ${problems.length} problem(s) in ${objects.length} object(s)`);
  process.exit(1);
}
console.log(`${label}: ${objects.length} objects valid (Kubernetes API schemas and gwsim's rules)`);
