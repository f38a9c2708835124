#!/usr/bin/env node
// Offline validation of rendered Kubernetes manifests (kubectl kustomize
// output): no cluster needed. Run through scripts/validate-manifests.sh.
//
//   node validate.js TARGET=FILE...   validate each rendered file, TARGET names it
//   node validate.js --self-test TARGET=FILE
//                                     break copies of FILE's objects on purpose
//                                     and check that each break is caught
//
// Three layers of checks on every object:
//   1. schema: the Kubernetes OpenAPI schema (npm kubernetes-models), types,
//      enums and required fields;
//   2. strict fields: every key must be a field the schema declares (read from
//      the package's type declarations), so a typo such as `replicaz` or
//      `readinesProbe`, which the schema lets through, fails;
//   3. policy: what this service needs (gRPC probes on distinct health
//      services, non-root, read-only root, no capabilities, limits, no API key
//      in env or ConfigMap, env names that are real server flags, selectors
//      that select the pods, ...), including checks across objects.
// Prints one line per object and `manifests: N passed, M failed` last; exits 1
// on any failure.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const MODELS = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS);
const REPO = path.resolve(__dirname, "..", "..");

// ---------------------------------------------------------------------------
// 1. Schema

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  // "v1" -> kubernetes-models/v1/Kind; "apps/v1" -> kubernetes-models/apps/v1/Kind
  const file = path.join(MODELS, ...apiVersion.split("/"), `${kind}.js`);
  if (!fs.existsSync(file)) return null;
  return { Model: require(file)[kind], dts: file.replace(/\.js$/, ".d.ts") };
}

function schemaErrors(obj) {
  const m = modelFor(obj.apiVersion, obj.kind);
  if (m === null) return [`no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
  try {
    new m.Model(obj).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    return e.errors.map((err) => {
      const where = err.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(object)";
      const extra = err.params && err.params.allowedValues ? ` ${JSON.stringify(err.params.allowedValues)}` : "";
      return `schema: ${where} ${err.message}${extra}`;
    });
  }
}

// ---------------------------------------------------------------------------
// 2. Strict fields, from the declarations the schema package ships:
//   export interface IDeploymentSpec { "replicas"?: number; "template": IIoK8s...; }

const interfaceCache = new Map();

// {fields: Map(name -> type text), imports: Map(typeName -> .d.ts path)} for
// the first interface declared in `dts`, or null when the file declares only a
// type alias (IntOrString, Quantity, Time: leaves).
function readInterface(dts) {
  if (interfaceCache.has(dts)) return interfaceCache.get(dts);
  let result = null;
  if (fs.existsSync(dts)) {
    const text = fs.readFileSync(dts, "utf8");
    const imports = new Map();
    for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
      const spec = m[2];
      const target = spec.startsWith(".") ? path.resolve(path.dirname(dts), spec) : path.join(NODE_MODULES, spec);
      imports.set(m[1], `${target}.d.ts`);
    }
    const start = text.search(/^export interface \w+/m);
    if (start >= 0) {
      const body = text.slice(start, text.indexOf("\n}", start));
      const fields = new Map();
      for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) fields.set(m[1], m[2].replace(/;$/, ""));
      result = { fields, imports };
    }
  }
  interfaceCache.set(dts, result);
  return result;
}

function strictErrors(value, dts, where, errors) {
  const iface = readInterface(dts);
  if (iface === null || value === null || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const at = where ? `${where}.${key}` : key;
    if (!iface.fields.has(key)) {
      errors.push(`unknown field ${at} (not in the ${path.basename(dts, ".d.ts")} schema)`);
      continue;
    }
    const type = iface.fields.get(key);
    let m = /^(\w+)$/.exec(type);
    if (m && iface.imports.has(m[1])) {
      strictErrors(child, iface.imports.get(m[1]), at, errors);
      continue;
    }
    m = /^Array<(\w+)>$/.exec(type);
    if (m && iface.imports.has(m[1]) && Array.isArray(child)) {
      child.forEach((item, i) => strictErrors(item, iface.imports.get(m[1]), `${at}[${i}]`, errors));
    }
    // Anything else (string, number, enum, map, alias) is a leaf for this check.
  }
}

// ---------------------------------------------------------------------------
// 3. Policy

// Server flags, from the ABSL_FLAG definitions in server/main.cc (the file the
// server reads BATCH_SERVER_* for). null when the sources are not there.
function serverFlags() {
  const main = path.join(REPO, "server", "main.cc");
  if (!fs.existsSync(main)) return null;
  const text = fs.readFileSync(main, "utf8");
  return new Set([...text.matchAll(/ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,/g)].map((m) => m[1]));
}
// Flags these manifests use before the server has them; each is a warning
// while missing and must be removed from here once it exists.
const PENDING_FLAGS = new Map([]);

const SECRETISH = /(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/i;
const TOKENISH = /^[A-Za-z0-9_\-+=]{24,}$/; // long, no path or URL characters

function parseDurationSeconds(text) {
  if (typeof text !== "string") return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m;
  let consumed = 0;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : null;
}

function selects(selector, labels) {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const id = (o) => `${o.kind}/${(o.metadata && o.metadata.name) || "?"}`;

// Checks on the whole rendered set; returns Map(object -> [error...]) and warnings.
function policyErrors(objects) {
  const errors = new Map(objects.map((o) => [o, []]));
  const warnings = [];
  const add = (o, msg) => errors.get(o).push(`policy: ${msg}`);
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const named = (kind, name) => byKind(kind).find((o) => o.metadata && o.metadata.name === name);
  const flags = serverFlags();

  const deployments = byKind("Deployment");
  for (const d of deployments) {
    const spec = d.spec || {};
    const pod = (spec.template && spec.template.spec) || {};
    const podLabels = (spec.template && spec.template.metadata && spec.template.metadata.labels) || {};
    const podSec = pod.securityContext || {};
    if (!selects(spec.selector && spec.selector.matchLabels, podLabels)) {
      add(d, "spec.selector.matchLabels must select the pod template's labels");
    }
    if (pod.automountServiceAccountToken !== false) add(d, "automountServiceAccountToken must be false");
    if (pod.enableServiceLinks !== false) {
      add(d, "enableServiceLinks must be false (service links inject BATCH_SERVER_* variables)");
    }
    if (pod.serviceAccountName && !named("ServiceAccount", pod.serviceAccountName)) {
      add(d, `serviceAccountName ${pod.serviceAccountName} is not in the rendered set`);
    }
    const mountedVolumes = new Set((pod.volumes || []).map((v) => v.name));

    for (const [i, c] of (pod.containers || []).entries()) {
      const at = `containers[${i}] (${c.name})`;
      const sec = c.securityContext || {};
      const eff = (k) => (sec[k] !== undefined ? sec[k] : podSec[k]);
      // Probes: native gRPC, on distinct health service names, on a declared port.
      const ports = new Map((c.ports || []).map((p) => [p.containerPort, p.name]));
      const services = {};
      for (const probe of ["livenessProbe", "readinessProbe"]) {
        const g = c[probe] && c[probe].grpc;
        if (!g) {
          add(d, `${at}: ${probe} must be a native grpc probe`);
          continue;
        }
        if (!g.service) add(d, `${at}: ${probe}.grpc.service must name a health service`);
        if (!ports.has(g.port)) add(d, `${at}: ${probe}.grpc.port ${g.port} is not a containerPort`);
        services[probe] = g.service;
      }
      if (services.livenessProbe && services.livenessProbe === services.readinessProbe) {
        add(d, `${at}: livenessProbe and readinessProbe must use different health services (both "${services.livenessProbe}")`);
      }
      if (![...ports.values()].includes("grpc")) add(d, `${at}: needs a containerPort named grpc`);
      // Security.
      if (eff("runAsNonRoot") !== true) add(d, `${at}: runAsNonRoot must be true`);
      const uid = eff("runAsUser");
      if (uid === 0) add(d, `${at}: runAsUser must not be 0`);
      if (sec.readOnlyRootFilesystem !== true) add(d, `${at}: readOnlyRootFilesystem must be true`);
      if (sec.allowPrivilegeEscalation !== false) add(d, `${at}: allowPrivilegeEscalation must be false`);
      const drop = (sec.capabilities && sec.capabilities.drop) || [];
      if (!drop.includes("ALL")) add(d, `${at}: capabilities.drop must include ALL`);
      if (sec.capabilities && sec.capabilities.add && sec.capabilities.add.length) {
        add(d, `${at}: capabilities.add must be empty`);
      }
      const seccomp = (sec.seccompProfile || podSec.seccompProfile || {}).type;
      if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") add(d, `${at}: seccompProfile must be RuntimeDefault`);
      // Resources.
      const res = c.resources || {};
      for (const kind of ["requests", "limits"]) {
        for (const r of ["cpu", "memory"]) {
          if (!res[kind] || res[kind][r] === undefined) add(d, `${at}: resources.${kind}.${r} must be set`);
        }
      }
      // Image: a tag or a digest, never latest.
      const image = String(c.image || "");
      const lastPart = image.split("/").pop();
      if (!image.includes("@sha256:") && (!lastPart.includes(":") || lastPart.endsWith(":latest"))) {
        add(d, `${at}: image ${image} must be pinned (a tag other than latest, or a digest)`);
      }
      for (const m of c.volumeMounts || []) {
        if (!mountedVolumes.has(m.name)) add(d, `${at}: volumeMount ${m.name} has no volume`);
      }
      // Environment: no secrets as variables (they are files), names that are flags.
      const env = new Map();
      for (const e of c.env || []) {
        if (SECRETISH.test(e.name) && !/_FILE$/.test(e.name)) {
          add(d, `${at}: env ${e.name} looks like a secret; mount it as a file and pass its path (*_FILE)`);
        }
        if (typeof e.value === "string" && TOKENISH.test(e.value)) {
          add(d, `${at}: env ${e.name} has a value that looks like a key or token`);
        }
        if (typeof e.value === "string") env.set(e.name, e.value);
      }
      for (const ef of c.envFrom || []) {
        if (ef.secretRef) add(d, `${at}: envFrom secretRef puts secrets in the environment; mount them as files`);
        if (ef.configMapRef) {
          const cm = named("ConfigMap", ef.configMapRef.name);
          if (!cm) {
            add(d, `${at}: envFrom ConfigMap ${ef.configMapRef.name} is not in the rendered set`);
            continue;
          }
          for (const [k, v] of Object.entries(cm.data || {})) if (!env.has(k)) env.set(k, v);
        }
      }
      const mounts = (c.volumeMounts || []).map((m) => m.mountPath.replace(/\/$/, ""));
      for (const [k, v] of env) {
        if (!k.startsWith("BATCH_SERVER_")) continue;
        const flag = k.slice("BATCH_SERVER_".length).toLowerCase();
        if (flags !== null && !flags.has(flag)) {
          if (PENDING_FLAGS.has(flag)) {
            warnings.push(`${id(d)}: ${k}: server/main.cc has no --${flag} yet (${PENDING_FLAGS.get(flag)})`);
          } else {
            add(d, `${at}: ${k} is not a server flag (no --${flag} in server/main.cc)`);
          }
        } else if (flags !== null && PENDING_FLAGS.has(flag)) {
          warnings.push(`validate.js: --${flag} now exists; remove it from PENDING_FLAGS`);
        }
        if (/_FILE$/.test(k) && !mounts.some((m) => String(v).startsWith(`${m}/`))) {
          add(d, `${at}: ${k}=${v} is not under any volumeMount of the container`);
        }
      }
      // Shutdown timeline: preStop pause + server grace < terminationGracePeriodSeconds.
      const grace = parseDurationSeconds(env.get("BATCH_SERVER_SHUTDOWN_GRACE") || "10s");
      const drain = parseDurationSeconds(env.get("BATCH_SERVER_DRAIN_DELAY") || "0s");
      const pre = c.lifecycle && c.lifecycle.preStop;
      let pause = 0;
      if (pre && pre.sleep) pause = pre.sleep.seconds;
      else if (pre && pre.exec && /sleep$/.test(pre.exec.command[0])) pause = Number(pre.exec.command[1]);
      else add(d, `${at}: needs a preStop pause (lifecycle.preStop.sleep)`);
      const tgps = pod.terminationGracePeriodSeconds === undefined ? 30 : pod.terminationGracePeriodSeconds;
      if (grace === null) add(d, `${at}: BATCH_SERVER_SHUTDOWN_GRACE is not a duration`);
      else if (!(tgps > pause + drain + grace)) {
        add(d, `${at}: terminationGracePeriodSeconds ${tgps} must exceed preStop ${pause}s + drain ${drain}s + shutdown grace ${grace}s`);
      }
    }
  }
  const podLabelsOf = (d) => (d.spec && d.spec.template && d.spec.template.metadata && d.spec.template.metadata.labels) || {};
  const selectsSomeDeployment = (sel) => deployments.some((d) => selects(sel, podLabelsOf(d)));

  for (const cm of byKind("ConfigMap")) {
    for (const [k, v] of Object.entries(cm.data || {})) {
      if (SECRETISH.test(k) && !/_FILE$/.test(k)) add(cm, `data.${k} looks like a secret; ConfigMaps are not for secrets`);
      if (TOKENISH.test(String(v))) add(cm, `data.${k} has a value that looks like a key or token`);
    }
  }
  for (const s of byKind("Service")) {
    const spec = s.spec || {};
    if (!(spec.ports || []).some((p) => p.name === "grpc")) add(s, "needs a port named grpc");
    for (const p of spec.ports || []) {
      if (p.name === "grpc" && p.appProtocol !== "grpc") add(s, "port grpc needs appProtocol: grpc");
      if (typeof p.targetPort === "string") {
        const known = deployments.some((d) =>
          ((d.spec.template.spec || {}).containers || []).some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort)));
        if (!known) add(s, `targetPort ${p.targetPort} is not a named containerPort of any Deployment`);
      }
    }
    if (spec.type !== "ExternalName" && !selectsSomeDeployment(spec.selector)) add(s, "selector selects no Deployment's pods");
  }
  if (byKind("Service").length && !byKind("Service").some((s) => s.spec && s.spec.clusterIP === "None")) {
    add(byKind("Service")[0], "a headless Service (clusterIP: None) is needed for client-side load balancing");
  }
  for (const p of byKind("PodDisruptionBudget")) {
    if (!selectsSomeDeployment(p.spec && p.spec.selector && p.spec.selector.matchLabels)) {
      add(p, "selector must select the Deployment's pods (an empty one selects every pod in the namespace)");
    }
  }
  for (const n of byKind("NetworkPolicy")) {
    const spec = n.spec || {};
    if (!selectsSomeDeployment(spec.podSelector && spec.podSelector.matchLabels)) add(n, "podSelector selects no Deployment's pods");
    for (const rule of spec.ingress || []) {
      for (const peer of rule.from || []) {
        if (peer.podSelector && selectsSomeDeployment(peer.podSelector.matchLabels)) {
          add(n, "an ingress podSelector selects the server's own pods (a label transformer with includeSelectors?)");
        }
      }
    }
    if (!(spec.policyTypes || []).includes("Egress")) add(n, "policyTypes must include Egress");
  }
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const ref = (h.spec && h.spec.scaleTargetRef) || {};
    const d = ref.kind === "Deployment" && named("Deployment", ref.name);
    if (!d) {
      add(h, `scaleTargetRef ${ref.kind}/${ref.name} is not in the rendered set`);
      continue;
    }
    if (d.spec.replicas !== undefined && h.spec.minReplicas !== d.spec.replicas) {
      add(h, `minReplicas ${h.spec.minReplicas} differs from ${id(d)} replicas ${d.spec.replicas}`);
    }
  }
  for (const sa of byKind("ServiceAccount")) {
    if (sa.automountServiceAccountToken !== false) add(sa, "automountServiceAccountToken must be false");
  }
  return { errors, warnings };
}

// ---------------------------------------------------------------------------

function load(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const objects = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o !== null) objects.push(o);
  }
  return objects;
}

// All errors for a rendered set: Map(object -> [error...]) plus warnings.
function check(objects) {
  const { errors, warnings } = policyErrors(objects);
  for (const o of objects) {
    const m = modelFor(o.apiVersion, o.kind);
    const list = schemaErrors(o);
    if (m !== null) strictErrors(o, m.dts, "", list);
    errors.get(o).unshift(...list);
  }
  return { errors, warnings };
}

function validate(targets) {
  let passed = 0;
  let failed = 0;
  for (const [name, file] of targets) {
    const objects = load(file);
    if (objects.length === 0) {
      console.log(`FAIL ${name}: renders no objects`);
      failed++;
      continue;
    }
    const { errors, warnings } = check(objects);
    for (const o of objects) {
      const list = errors.get(o);
      if (list.length === 0) {
        passed++;
        console.log(`ok   ${name} ${id(o)}`);
      } else {
        failed++;
        console.log(`FAIL ${name} ${id(o)}`);
        for (const e of list) console.log(`       ${e}`);
      }
    }
    for (const w of new Set(warnings)) console.log(`warn ${name} ${w}`);
  }
  console.log(`manifests: ${passed} passed, ${failed} failed`);
  return failed === 0;
}

// ---------------------------------------------------------------------------
// Self-test: each case breaks a deep copy of the rendered set and must make
// the validator report an error containing `expect`.

const deploymentOf = (objs) => objs.find((o) => o.kind === "Deployment");
const containerOf = (objs) => deploymentOf(objs).spec.template.spec.containers[0];
const serviceOf = (objs) => objs.find((o) => o.kind === "Service" && o.spec.clusterIP !== "None");
const configMapOf = (objs) => objs.find((o) => o.kind === "ConfigMap");

const CASES = [
  ["replicas is a string", "spec.replicas must be integer", (o) => { deploymentOf(o).spec.replicas = "two"; }],
  ["container without a name", "must have required property name", (o) => { delete containerOf(o).name; }],
  ["Service port is not a number", "ports.0.port must be integer", (o) => { serviceOf(o).spec.ports[0].port = "grpc"; }],
  ["bad enum (imagePullPolicy)", "must be equal to one of the allowed values", (o) => { containerOf(o).imagePullPolicy = "Sometimes"; }],
  ["typo in Deployment spec", "unknown field spec.replicaz", (o) => { const s = deploymentOf(o).spec; s.replicaz = s.replicas; delete s.replicas; }],
  ["typo in a container", "unknown field spec.template.spec.containers[0].readinesProbe", (o) => { const c = containerOf(o); c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
  ["typo in Service spec", "unknown field spec.selectr", (o) => { const s = serviceOf(o).spec; s.selectr = s.selector; delete s.selector; }],
  ["unknown top-level key", "unknown field specs", (o) => { const d = deploymentOf(o); d.specs = {}; }],
  ["liveness and readiness on the same service", "must use different health services", (o) => { const c = containerOf(o); c.readinessProbe.grpc.service = c.livenessProbe.grpc.service; }],
  ["tcpSocket probe instead of gRPC", "readinessProbe must be a native grpc probe", (o) => { const c = containerOf(o); c.readinessProbe = { tcpSocket: { port: 50051 } }; }],
  ["runs as root", "runAsNonRoot must be true", (o) => { const d = deploymentOf(o); d.spec.template.spec.securityContext.runAsNonRoot = false; containerOf(o).securityContext.runAsNonRoot = false; }],
  ["writable root filesystem", "readOnlyRootFilesystem must be true", (o) => { containerOf(o).securityContext.readOnlyRootFilesystem = false; }],
  ["capabilities kept", "capabilities.drop must include ALL", (o) => { containerOf(o).securityContext.capabilities.drop = ["NET_RAW"]; }],
  ["no memory limit", "resources.limits.memory must be set", (o) => { delete containerOf(o).resources.limits.memory; }],
  ["API key as an env var", "env SERPWOW_API_KEY looks like a secret", (o) => { containerOf(o).env = [{ name: "SERPWOW_API_KEY", value: "0123456789ABCDEF0123456789ABCDEF" }]; }],
  ["API key in the ConfigMap", "looks like a key or token", (o) => { configMapOf(o).data.BATCH_SERVER_NOTE = "0123456789ABCDEF0123456789ABCDEF"; }],
  ["env that is not a server flag", "BATCH_SERVER_SHUTDOWN_GRAC is not a server flag", (o) => { configMapOf(o).data.BATCH_SERVER_SHUTDOWN_GRAC = "20s"; }],
  ["grace longer than the pod's termination grace", "must exceed preStop", (o) => { deploymentOf(o).spec.template.spec.terminationGracePeriodSeconds = 20; }],
  ["key file path not mounted", "is not under any volumeMount", (o) => { configMapOf(o).data.BATCH_SERVER_API_KEY_FILE = "/etc/serpwow/api-key"; }],
  ["Service without a grpc port", "needs a port named grpc", (o) => { serviceOf(o).spec.ports[0].name = "h2c"; }],
  ["latest image", "must be pinned", (o) => { containerOf(o).image = "registry.example.com/batch-server:latest"; }],
  ["PDB without selector", "selector must select the Deployment's pods", (o) => { delete o.find((x) => x.kind === "PodDisruptionBudget").spec.selector; }],
  ["NetworkPolicy clients selector polluted", "selects the server's own pods", (o) => {
    const n = o.find((x) => x.kind === "NetworkPolicy");
    n.spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/name"] = "batch-server";
    Object.assign(deploymentOf(o).spec.template.metadata.labels, n.spec.ingress[0].from[0].podSelector.matchLabels);
  }],
  ["HPA min differs from replicas", "differs from Deployment/batch-server replicas", (o) => { o.find((x) => x.kind === "HorizontalPodAutoscaler").spec.minReplicas = 7; }],
  ["service links on", "enableServiceLinks must be false", (o) => { deploymentOf(o).spec.template.spec.enableServiceLinks = true; }],
];

function selfTest(file) {
  const pristine = load(file);
  let passed = 0;
  let failed = 0;
  const report = (ok, text) => {
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? "ok  " : "FAIL"} ${text}`);
  };
  const baseline = check(pristine).errors;
  const clean = [...baseline.values()].every((l) => l.length === 0);
  report(clean, `unbroken objects pass${clean ? "" : `: ${[...baseline.values()].flat().join("; ")}`}`);
  for (const [name, expect, breakIt] of CASES) {
    const objects = structuredClone(pristine);
    breakIt(objects);
    const all = [...check(objects).errors.values()].flat();
    const hit = all.find((e) => e.includes(expect));
    report(hit !== undefined, `${name}: ${hit !== undefined ? `rejected (${hit})` : `NOT rejected; want an error with "${expect}", got ${JSON.stringify(all)}`}`);
  }
  console.log(`manifests self-test: ${passed} passed, ${failed} failed`);
  return failed === 0;
}

function main(argv) {
  const selfTestMode = argv[0] === "--self-test";
  const targets = (selfTestMode ? argv.slice(1) : argv).map((a) => {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new Error(`argument ${a}: want TARGET=FILE`);
    return [a.slice(0, eq), a.slice(eq + 1)];
  });
  if (targets.length === 0 || (selfTestMode && targets.length !== 1)) {
    console.error("usage: validate.js TARGET=FILE... | validate.js --self-test TARGET=FILE");
    return 64;
  }
  const ok = selfTestMode ? selfTest(targets[0][1]) : validate(targets);
  return ok ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
