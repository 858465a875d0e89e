/**
 * Huawei Cloud `SDK-HMAC-SHA256` request signing (API §4), as pure functions of the request, the
 * credentials and `now`. The same canonicalisation serves both sides: `signRequest` for the cloud client
 * and `verifySignature` for the simulator.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The signing algorithm name, first word of the Authorization header and of the string to sign. */
export const SIGNING_ALGORITHM = "SDK-HMAC-SHA256";

/** How far X-Sdk-Date may be from the verifier's clock, either way (the gateway allows 15 minutes). */
export const DEFAULT_MAX_SKEW_MS = 15 * 60_000;

/** Hex SHA-256 of the empty body. */
export const EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** A request to sign. `headers` may use any case; the body is hashed as UTF-8 when a string. */
export interface SignableRequest {
  method: string;
  url: string | URL;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** AK/SK credentials; `securityToken` only for temporary credentials. */
export interface SigningCredentials {
  accessKey: string;
  secretKey: string;
  securityToken?: string;
}

/** Options of `signRequest`. */
export interface SignOptions {
  /** The signing time, ms since epoch (becomes X-Sdk-Date). */
  now: number;
  /** Adds `X-Project-Id` before signing. */
  projectId?: string;
  /**
   * Exactly which headers to sign (any case). Default: every header of the request after Host,
   * X-Sdk-Date, X-Project-Id and X-Security-Token were added. `x-sdk-date` is always required.
   */
  signedHeaders?: string[];
}

const HEX = "0123456789ABCDEF";

/**
 * RFC 3986 encoding as the signer needs it: `A–Z a–z 0–9 - _ . ~` stay literal, every other UTF-8
 * byte becomes `%XX` with upper-case hex (space is `%20`, never `+`).
 */
export function encodeRfc3986(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    if (
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e
    ) {
      out += String.fromCharCode(byte);
    } else {
      out += `%${HEX[byte >> 4]}${HEX[byte & 0x0f]}`;
    }
  }
  return out;
}

/** Decodes a percent-encoded URL component; a malformed one is kept as it is (both sides agree). */
function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Formats ms since epoch as X-Sdk-Date: `YYYYMMDDTHHMMSSZ` in UTC. */
export function formatSdkDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parses an X-Sdk-Date value to ms since epoch; `undefined` when it is not one. */
export function parseSdkDate(s: string): number | undefined {
  const m = SDK_DATE.exec(s.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  const back = new Date(ms);
  // Reject dates such as 20060231 that Date.UTC would roll over.
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    return undefined;
  }
  return ms;
}

/** The canonical URI: each decoded path segment re-encoded, always ending in `/`. */
export function canonicalUri(pathname: string): string {
  const encoded = pathname
    .split("/")
    .map((segment) => encodeRfc3986(decodeComponent(segment)))
    .join("/");
  return encoded.endsWith("/") ? encoded : `${encoded}/`;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The canonical query: names sorted, a repeated name once per value with its values sorted, each
 * `name=value` RFC 3986 encoded, joined by `&`. `search` may start with `?`.
 */
export function canonicalQuery(search: string): string {
  const params = new URLSearchParams(search);
  const byName = new Map<string, string[]>();
  for (const [name, value] of params) {
    const values = byName.get(name);
    if (values) values.push(value);
    else byName.set(name, [value]);
  }
  const parts: string[] = [];
  for (const name of [...byName.keys()].sort(compareUtf8)) {
    const values = (byName.get(name) ?? []).sort(compareUtf8);
    for (const value of values) parts.push(`${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
  }
  return parts.join("&");
}

/** Hex SHA-256 of a body (the empty body when undefined). */
export function hashPayload(body: string | Uint8Array | undefined): string {
  if (body === undefined || body.length === 0) return EMPTY_BODY_SHA256;
  return createHash("sha256").update(body).digest("hex");
}

/** The inputs of a canonical request; header names may use any case. */
export interface CanonicalRequestInput {
  method: string;
  /** Full URL, or path plus query (as node:http gives `req.url`). */
  url: string | URL;
  headers: Record<string, string | string[] | undefined>;
  /** Names of the headers to sign, any case. */
  signedHeaders: string[];
  body?: string | Uint8Array;
}

function toUrl(url: string | URL): URL {
  return url instanceof URL ? url : new URL(url, "http://signer.invalid");
}

function headerValue(headers: CanonicalRequestInput["headers"], lowerName: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== lowerName || v === undefined) continue;
    return Array.isArray(v) ? v.join(",") : v;
  }
  return undefined;
}

/** Lower-cases, de-duplicates and sorts header names: the SignedHeaders list. */
export function normaliseSignedHeaders(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.trim().toLowerCase()).filter((n) => n !== ""))].sort();
}

/**
 * The canonical request: `METHOD\nURI\nQUERY\nHEADERS\nSIGNEDHEADERS\nPAYLOADHASH`, where HEADERS is
 * `lower(name):trim(value)\n` per signed header, sorted. A signed header missing from `headers` signs
 * as an empty value (the verifier then fails on it, as the gateway does).
 */
export function canonicalRequest(input: CanonicalRequestInput): string {
  const url = toUrl(input.url);
  const signed = normaliseSignedHeaders(input.signedHeaders);
  const headerLines = signed
    .map((name) => `${name}:${(headerValue(input.headers, name) ?? "").trim()}\n`)
    .join("");
  return [
    input.method.toUpperCase(),
    canonicalUri(url.pathname),
    canonicalQuery(url.search),
    headerLines,
    signed.join(";"),
    hashPayload(input.body),
  ].join("\n");
}

/** The string to sign: `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256(canonical request)>`. */
export function stringToSign(canonical: string, sdkDate: string): string {
  return `${SIGNING_ALGORITHM}\n${sdkDate}\n${createHash("sha256").update(canonical).digest("hex")}`;
}

/** Hex HMAC-SHA256 of the string to sign with the secret key. */
export function computeSignature(toSign: string, secretKey: string): string {
  return createHmac("sha256", secretKey).update(toSign).digest("hex");
}

/** Drops every header whose lower-cased name is in `names`. */
function withoutHeaders(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!names.includes(k.toLowerCase())) out[k] = v;
  }
  return out;
}

/**
 * Signs a request. Returns the full header set to send: the input headers plus `X-Sdk-Date` (from
 * `options.now`), `Host` (from the URL, unless given), `X-Project-Id` and `X-Security-Token` when given,
 * and `Authorization`. Pure: same inputs, same headers.
 */
export function signRequest(
  req: SignableRequest,
  creds: SigningCredentials,
  options: SignOptions,
): Record<string, string> {
  const url = toUrl(req.url);
  const sdkDate = formatSdkDate(options.now);
  const replaced = ["authorization", "x-sdk-date"];
  if (options.projectId !== undefined) replaced.push("x-project-id");
  if (creds.securityToken) replaced.push("x-security-token");
  const headers = withoutHeaders(req.headers, replaced);
  if (headerValue(headers, "host") === undefined) headers.Host = url.host;
  headers["X-Sdk-Date"] = sdkDate;
  if (options.projectId !== undefined) headers["X-Project-Id"] = options.projectId;
  if (creds.securityToken) headers["X-Security-Token"] = creds.securityToken;

  const signed = normaliseSignedHeaders(options.signedHeaders ?? Object.keys(headers));
  if (!signed.includes("x-sdk-date")) signed.push("x-sdk-date");
  signed.sort();
  const canonical = canonicalRequest({
    method: req.method,
    url,
    headers,
    signedHeaders: signed,
    ...(req.body === undefined ? {} : { body: req.body }),
  });
  const signature = computeSignature(stringToSign(canonical, sdkDate), creds.secretKey);
  headers.Authorization = `${SIGNING_ALGORITHM} Access=${creds.accessKey}, SignedHeaders=${signed.join(";")}, Signature=${signature}`;
  return headers;
}

/** The parts of an `SDK-HMAC-SHA256` Authorization header. */
export interface ParsedAuthorization {
  accessKey: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`; `undefined` when malformed. */
export function parseAuthorization(value: string): ParsedAuthorization | undefined {
  const trimmed = value.trim();
  if (!trimmed.startsWith(`${SIGNING_ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(SIGNING_ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKey = fields.get("Access");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!accessKey || !signedHeaders || !signature) return undefined;
  return { accessKey, signedHeaders: signedHeaders.split(";"), signature };
}

/** Why a signature was refused: `expired` is the clock-skew case (gateway code APIGW.0303). */
export type SignatureFailureKind = "missing" | "malformed" | "unknown_key" | "expired" | "mismatch";

/** The verdict of `verifySignature`. `reason` never contains a secret or a signature. */
export type SignatureVerdict =
  | { ok: true; accessKey: string; signedHeaders: string[] }
  | { ok: false; reason: string; kind: SignatureFailureKind };

/** A request as node:http presents it: path plus query, lower-case header names. */
export interface VerifiableRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Verifies an `SDK-HMAC-SHA256` signed request (the gateway's side): parses Authorization, requires
 * `x-sdk-date` to be signed and within `maxSkewMs` of `now` either way, recomputes the canonical request
 * over the listed SignedHeaders and compares signatures in constant time.
 */
export function verifySignature(
  req: VerifiableRequest,
  body: Buffer,
  lookupSecret: (accessKey: string) => string | undefined,
  now: number,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): SignatureVerdict {
  const authorization = headerValue(req.headers, "authorization");
  if (authorization === undefined) return { ok: false, kind: "missing", reason: "no Authorization header" };
  const parsed = parseAuthorization(authorization);
  if (!parsed) return { ok: false, kind: "malformed", reason: "malformed Authorization header" };
  const signed = parsed.signedHeaders.map((h) => h.toLowerCase());
  if (!signed.includes("x-sdk-date")) {
    return { ok: false, kind: "malformed", reason: "x-sdk-date is not a signed header" };
  }
  for (const name of signed) {
    if (headerValue(req.headers, name) === undefined) {
      return { ok: false, kind: "malformed", reason: `signed header ${name} is missing` };
    }
  }
  const sdkDate = (headerValue(req.headers, "x-sdk-date") ?? "").trim();
  const at = parseSdkDate(sdkDate);
  if (at === undefined) return { ok: false, kind: "malformed", reason: "malformed X-Sdk-Date" };
  if (Math.abs(now - at) > maxSkewMs) {
    return { ok: false, kind: "expired", reason: "X-Sdk-Date is too far from the server time" };
  }
  const secret = lookupSecret(parsed.accessKey);
  if (secret === undefined) return { ok: false, kind: "unknown_key", reason: "unknown access key" };
  const canonical = canonicalRequest({
    method: req.method,
    url: req.url,
    headers: req.headers,
    signedHeaders: signed,
    body,
  });
  const expected = Buffer.from(computeSignature(stringToSign(canonical, sdkDate), secret), "utf8");
  const given = Buffer.from(parsed.signature.toLowerCase(), "utf8");
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, kind: "mismatch", reason: "signature does not match" };
  }
  return { ok: true, accessKey: parsed.accessKey, signedHeaders: normaliseSignedHeaders(signed) };
}

/**
 * Signs an outgoing HTTP request of the client with `creds` at `now`: the one place auth kinds turn a
 * request into signed headers (X-Project-Id only when there is a project: the IAM calls are global).
 */
export function signHttpRequest(
  req: { method: string; url: string | URL; headers: Record<string, string>; body?: string | undefined },
  creds: SigningCredentials,
  now: number,
  projectId: string,
): Record<string, string> {
  return signRequest(
    {
      method: req.method,
      url: req.url,
      headers: req.headers,
      ...(req.body === undefined ? {} : { body: req.body }),
    },
    creds,
    { now, ...(projectId === "" ? {} : { projectId }) },
  );
}
