/**
 * Loading the configuration (DESIGN §2): read the file, substitute `${VAR}` / `${VAR:-default}` from
 * the environment, parse the YAML, read `<key>File` secrets, validate with the schema, and freeze.
 * Every problem is collected and thrown at once as a ConfigError; no message quotes a value.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve as resolvePath } from "node:path";
import { parseDocument } from "yaml";
import { CONFIG_CREDENTIAL_KEYS } from "../lib/credential-fields.js";
import { ConfigError, type ConfigIssue, coerceError, formatIssuePath } from "../lib/errors.js";
import { webhookSecretWarnings } from "../notify/formats/index.js";
import { createConfigSchema, toConfigIssues } from "./schema.js";
import { type CloudConfig, type Config, DEFAULT_CLOUD, type LoadedConfig } from "./types.js";
import { collectPollingWarnings } from "./warnings.js";

/** The environment, as `process.env` or a test's object. */
export type Env = Readonly<Record<string, string | undefined>>;

/** How `<key>File` secrets and `cloud.caFile` are read; tests may replace it. */
export type ReadSecretFile = (path: string) => string;

/** Options of `parseConfigText` / `loadConfig`. */
export interface ParseOptions {
  /** Reads a `<key>File` secret or `cloud.caFile` (default: `fs.readFileSync(path, "utf8")`). */
  readFile?: ReadSecretFile;
  /**
   * Relative `<key>File` and `cloud.caFile` paths are resolved against this directory (default: the
   * config file's).
   */
  baseDir?: string;
}

const VAR_REF = /\$\$\{|\$\{([^}\n]*)(\}?)/g;
const VAR_BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Replaces `${VAR}` and `${VAR:-default}` with values from `env`; `$${` stays as a literal `${`.
 * `:-` uses the default when VAR is unset or empty, as the shell does. Comments are left alone.
 * Returns the new text and an issue (`line L, column C`) for each unset variable or bad reference.
 */
export function substituteEnv(text: string, env: Env): { text: string; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const lines = text.split("\n");
  const out = lines.map((line, i) => {
    const commentAt = findCommentStart(line);
    const body = commentAt < 0 ? line : line.slice(0, commentAt);
    const rest = commentAt < 0 ? "" : line.slice(commentAt);
    const replaced = body.replace(
      VAR_REF,
      (match: string, inner: string | undefined, close: string, offset: number) => {
        if (match === "$${") return "${";
        const where = `line ${i + 1}, column ${offset + 1}`;
        const m = close === "}" ? VAR_BODY.exec(inner ?? "") : null;
        if (!m) {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the config's own syntax
          issues.push({ path: where, message: "bad variable reference: use ${NAME} or ${NAME:-default}" });
          return match;
        }
        const name = m[1] as string;
        const fallback = m[2];
        const value = env[name];
        if (fallback !== undefined) return value === undefined || value === "" ? fallback : value;
        if (value === undefined) {
          issues.push({ path: where, message: `environment variable ${name} is not set` });
          return "";
        }
        return value;
      },
    );
    return replaced + rest;
  });
  return { text: out.join("\n"), issues };
}

/**
 * Where a YAML comment starts on one line, or -1: a `#` at the start or after whitespace, outside a
 * quoted scalar. A heuristic (it does not follow multi-line quoted scalars), good enough to keep
 * `${…}` in comments from being substituted.
 */
function findCommentStart(line: string): number {
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    const prev = i === 0 ? " " : (line[i - 1] as string);
    if (quote === '"') {
      if (ch === "\\") i++;
      else if (ch === '"') quote = null;
    } else if (quote === "'") {
      if (ch === "'") {
        if (line[i + 1] === "'") i++;
        else quote = null;
      }
    } else if ((ch === '"' || ch === "'") && /[\s:[{,-]/.test(prev)) {
      quote = ch;
    } else if (ch === "#" && /\s/.test(prev)) {
      return i;
    }
  }
  return -1;
}

/** Every cloud mapping of the raw document, `cloud` and each of `clouds`, with its path. */
function rawClouds(raw: Record<string, unknown>): { path: string[]; cloud: Record<string, unknown> }[] {
  const out: { path: string[]; cloud: Record<string, unknown> }[] = [];
  if (isPlainObject(raw.cloud)) out.push({ path: ["cloud"], cloud: raw.cloud });
  if (isPlainObject(raw.clouds)) {
    for (const [name, c] of Object.entries(raw.clouds)) {
      if (isPlainObject(c)) out.push({ path: ["clouds", name], cloud: c });
    }
  }
  return out;
}

/** Where secret keys live in the raw document: the objects holding them. */
function secretHolders(
  raw: Record<string, unknown>,
): { path: (string | number)[]; obj: Record<string, unknown> }[] {
  const holders: { path: (string | number)[]; obj: Record<string, unknown> }[] = [];
  for (const { path, cloud } of rawClouds(raw)) {
    // An agency's `source:` is an auth of its own, with its own secrets.
    for (let auth = cloud.auth, at = [...path, "auth"]; isPlainObject(auth); auth = auth.source) {
      holders.push({ path: at, obj: auth });
      at = [...at, "source"];
    }
  }
  if (Array.isArray(raw.webhooks)) {
    raw.webhooks.forEach((w, i) => {
      if (isPlainObject(w)) holders.push({ path: ["webhooks", i], obj: w });
    });
  }
  if (isPlainObject(raw.server)) holders.push({ path: ["server"], obj: raw.server });
  return holders;
}

/**
 * Reads every `<key>File` secret into `<key>` (one trailing newline dropped) and turns empty secrets
 * into absent ones, in place. Returns the issues and the paths they cover, so the schema does not
 * report the same key again as missing.
 */
function resolveSecretFiles(
  raw: Record<string, unknown>,
  readFile: ReadSecretFile,
  baseDir: string | undefined,
): { issues: ConfigIssue[]; covered: Set<string> } {
  const issues: ConfigIssue[] = [];
  const covered = new Set<string>();
  for (const { path, obj } of secretHolders(raw)) {
    for (const key of CONFIG_CREDENTIAL_KEYS) {
      const fileKey = `${key}File`;
      if (Object.hasOwn(obj, fileKey)) {
        const file = obj[fileKey];
        delete obj[fileKey];
        const at = formatIssuePath([...path, fileKey]);
        if (obj[key] !== undefined && obj[key] !== "") {
          issues.push({ path: at, message: `give either ${key} or ${fileKey}, not both` });
        } else if (typeof file !== "string" || file === "") {
          issues.push({ path: at, message: "must be a file path" });
          covered.add(formatIssuePath([...path, key]));
        } else {
          const full = baseDir !== undefined && !isAbsolute(file) ? resolvePath(baseDir, file) : file;
          try {
            obj[key] = readFile(full).replace(/\r?\n$/, "");
          } catch (err) {
            issues.push({ path: at, message: `cannot read ${file}: ${describeFsError(err)}` });
            covered.add(formatIssuePath([...path, key]));
          }
        }
      }
      if (obj[key] === "") delete obj[key];
    }
  }
  return { issues, covered };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Reads `cloud.caFile` now, so a missing, unreadable or certificate-less file is a config problem (exit
 * 78, and a reload that keeps the old config) rather than a failure later. Returns the PEM text for
 * `cloud.ca`, or the issue. Messages name the file and never quote its contents.
 */
function readCaFile(
  cloud: Record<string, unknown>,
  path: string[],
  readFile: ReadSecretFile,
  baseDir: string | undefined,
): { ca?: string; issue?: ConfigIssue } {
  const file = cloud.caFile;
  if (typeof file !== "string" || file === "") return {}; // absent, or the schema reports its type
  const at = formatIssuePath([...path, "caFile"]);
  const full = baseDir !== undefined && !isAbsolute(file) ? resolvePath(baseDir, file) : file;
  let text: string;
  try {
    text = readFile(full);
  } catch (err) {
    return { issue: { path: at, message: `cannot read ${file} (${describeFsError(err)})` } };
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    return { issue: { path: at, message: `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` } };
  }
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return {
        issue: { path: at, message: `certificate ${i + 1} of ${blocks.length} in ${file} cannot be parsed` },
      };
    }
  }
  return { ca: blocks.join("\n") };
}

/** The PEM material of `server.tls`, read at load. */
interface TlsMaterial {
  cert: string;
  key: string;
  clientCA?: string;
}

/**
 * Reads `server.tls` files now (DESIGN §2): the certificate chain must parse, the key must parse and
 * belong to the first certificate, the client CA must hold certificates. So a bad file is a config problem
 * at start (exit 78) and a reload that keeps the old certificate. Messages never quote the files.
 */
function readServerTls(
  raw: Record<string, unknown>,
  readFile: ReadSecretFile,
  baseDir: string | undefined,
): { tls?: TlsMaterial; issues: ConfigIssue[] } {
  const server = isPlainObject(raw.server) ? raw.server : undefined;
  const tls = server && isPlainObject(server.tls) ? server.tls : undefined;
  if (!tls) return { issues: [] };
  const issues: ConfigIssue[] = [];
  const read = (key: string): string | undefined => {
    const file = tls[key];
    if (typeof file !== "string" || file === "") return undefined; // absent, or the schema reports it
    const full = baseDir !== undefined && !isAbsolute(file) ? resolvePath(baseDir, file) : file;
    try {
      return readFile(full);
    } catch (err) {
      issues.push({ path: `server.tls.${key}`, message: `cannot read ${file} (${describeFsError(err)})` });
      return undefined;
    }
  };
  const certText = read("certFile");
  const keyText = read("keyFile");
  const caText = read("clientCAFile");
  let leaf: X509Certificate | undefined;
  if (certText !== undefined) {
    const blocks = certText.match(PEM_CERTIFICATE) ?? [];
    try {
      if (blocks.length === 0) throw new Error("none");
      leaf = new X509Certificate(blocks[0] as string);
      for (const b of blocks.slice(1)) new X509Certificate(b);
    } catch {
      issues.push({
        path: "server.tls.certFile",
        message: `${String(tls.certFile)} holds no valid PEM certificate`,
      });
      leaf = undefined;
    }
  }
  if (keyText !== undefined) {
    try {
      const key = createPrivateKey(keyText);
      if (leaf && !leaf.checkPrivateKey(key)) {
        issues.push({
          path: "server.tls.keyFile",
          message: "the key does not belong to the certificate of certFile",
        });
      }
    } catch {
      issues.push({
        path: "server.tls.keyFile",
        message: `${String(tls.keyFile)} holds no valid PEM private key`,
      });
    }
  }
  if (caText !== undefined) {
    const blocks = caText.match(PEM_CERTIFICATE) ?? [];
    try {
      if (blocks.length === 0) throw new Error("none");
      for (const b of blocks) new X509Certificate(b);
    } catch {
      issues.push({
        path: "server.tls.clientCAFile",
        message: `${String(tls.clientCAFile)} holds no valid PEM certificate`,
      });
    }
  }
  if (issues.length > 0 || certText === undefined || keyText === undefined) return { issues };
  return {
    issues,
    tls: { cert: certText, key: keyText, ...(caText !== undefined ? { clientCA: caText } : {}) },
  };
}

/** `ENOENT`-style code of a file-system error, never its full message. */
function describeFsError(err: unknown): string {
  const e = coerceError(err) as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

/**
 * Removes mapping keys whose value is null, in place: `key:` with nothing after it (or an empty
 * `${VAR:-}`) means "not set", so the default applies. Nulls inside lists stay and fail validation.
 */
function dropNulls(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) dropNulls(item);
  } else if (isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (child === null) delete value[key];
      else dropNulls(child);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Freezes an object graph, so the loaded config cannot change under the code using it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Problems that do not stop the config from working, one line each (printed as `warning: …`). */
export function collectWarnings(config: Config): string[] {
  const warnings = collectPollingWarnings(config);
  config.webhooks.forEach((w, i) => {
    for (const warning of webhookSecretWarnings(w.format, w.secret)) {
      warnings.push(`webhooks[${i}].secret: ${warning}`);
    }
  });
  return warnings;
}

/**
 * Parses configuration text into the frozen config. Pure but for `<key>File` secrets, which go through
 * `options.readFile`. `sourceName` names the text in the result (`path`). Throws ConfigError with
 * every problem found.
 */
export function parseConfigText(
  text: string,
  env: Env,
  sourceName: string,
  options: ParseOptions = {},
): LoadedConfig {
  const substituted = substituteEnv(text, env);
  const doc = parseDocument(substituted.text, { uniqueKeys: true, prettyErrors: true });
  const issues: ConfigIssue[] = [...substituted.issues];
  for (const err of doc.errors) {
    const pos = err.linePos?.[0];
    // Only the first line of yaml's message, without its position suffix: the rest quotes the source,
    // which may hold a secret.
    const message = (err.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    issues.push({ path: pos ? `line ${pos.line}, column ${pos.col}` : "", message: `YAML: ${message}` });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError([{ path: "", message: `YAML: ${coerceError(err).message.split("\n")[0]}` }]);
  }
  if (!isPlainObject(raw)) {
    throw new ConfigError([{ path: "", message: "must be a YAML mapping with cloud: and targets:" }]);
  }

  dropNulls(raw);
  const readFile = options.readFile ?? ((p) => readFileSync(p, "utf8"));
  const secrets = resolveSecretFiles(raw, readFile, options.baseDir);
  const cas = rawClouds(raw).map(({ path, cloud }) => ({
    name: path[0] === "cloud" ? DEFAULT_CLOUD : (path[1] as string),
    ...readCaFile(cloud, path, readFile, options.baseDir),
  }));
  const tls = readServerTls(raw, readFile, options.baseDir);
  const fileIssues = [...secrets.issues, ...cas.flatMap((c) => (c.issue ? [c.issue] : [])), ...tls.issues];
  const result = createConfigSchema({ env }).safeParse(raw, { reportInput: true });
  if (!result.success || fileIssues.length > 0) {
    const schemaIssues = result.success ? [] : toConfigIssues(result.error.issues);
    const all = [...fileIssues, ...schemaIssues.filter((i) => !secrets.covered.has(i.path))];
    throw new ConfigError(all);
  }
  for (const c of cas) {
    const cloud = result.data.clouds[c.name];
    // `clouds.default` is `cloud`: one object, so the default cloud's CA lands in both.
    if (c.ca !== undefined && cloud !== undefined) (cloud as CloudConfig).ca = c.ca;
  }
  if (tls.tls !== undefined && result.data.server.tls) Object.assign(result.data.server.tls, tls.tls);
  const config = deepFreeze(result.data);
  return { config, warnings: collectWarnings(config), path: sourceName };
}

/**
 * Loads the config file at `path` (see `parseConfigText`); relative `<key>File` paths are resolved
 * against the file's directory. A missing or unreadable file is a ConfigError naming it.
 */
export function loadConfig(path: string, env: Env, options: ParseOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError([{ path, message: `cannot read config file: ${describeFsError(err)}` }], {
      cause: err,
    });
  }
  const baseDir = options.baseDir ?? resolvePath(path, "..");
  return parseConfigText(text, env, path, { ...options, baseDir });
}
