/**
 * The registry of webhook formats: config validation, masking, warnings and delivery look a format up
 * here and nowhere else. To add a format, write one module in this folder exporting its
 * `WebhookFormatModule` and add it to `MODULES` below; nothing else changes.
 */
import { AppError } from "../../lib/errors.js";
import { alertmanagerFormat } from "./alertmanager.js";
import { dingtalkFormat } from "./dingtalk.js";
import { feishuFormat } from "./feishu.js";
import type { WebhookFormatModule } from "./format.js";
import { slackFormat } from "./slack.js";
import { standardFormat } from "./standard.js";
import { teamsFormat } from "./teams.js";
import { wecomFormat } from "./wecom.js";

const MODULES = [
  standardFormat,
  slackFormat,
  teamsFormat,
  feishuFormat,
  dingtalkFormat,
  wecomFormat,
  alertmanagerFormat,
] as const;

/** A `format:` value: the name of a registered format. */
export type WebhookFormat = (typeof MODULES)[number]["name"];

/** Every registered format name, in registry order (the config's enum). */
export const WEBHOOK_FORMATS: readonly [WebhookFormat, ...WebhookFormat[]] = [
  MODULES[0].name,
  ...MODULES.slice(1).map((m) => m.name),
];

const BY_NAME: ReadonlyMap<string, WebhookFormatModule> = new Map(MODULES.map((m) => [m.name, m]));

/** The module of a registered format; a non-retryable AppError (`NOT_IMPLEMENTED`) for any other name. */
export function webhookFormat(name: WebhookFormat): WebhookFormatModule {
  const format = BY_NAME.get(name);
  // Only a config that bypassed the schema gets here; its deliveries are dead-lettered with this message.
  if (format === undefined) throw new AppError("NOT_IMPLEMENTED", `format ${String(name)} not implemented`);
  return format;
}

/** The config error of `secret` for `format` (missing, malformed), or undefined. Never quotes the secret. */
export function webhookSecretProblem(format: WebhookFormat, secret: string | undefined): string | undefined {
  return webhookFormat(format).secret.problem?.(secret);
}

/** Warnings about a valid config's `secret` for `format`: ignored by the format, or weak. */
export function webhookSecretWarnings(format: WebhookFormat, secret: string | undefined): string[] {
  if (secret === undefined) return [];
  const rules = webhookFormat(format).secret;
  if (rules.use === "unused") return [`ignored for format ${format}`];
  const advice = rules.advice?.(secret);
  return advice === undefined ? [] : [advice];
}
