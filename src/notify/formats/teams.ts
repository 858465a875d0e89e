/**
 * `format: teams`: an Adaptive Card posted to a Microsoft Teams Workflows webhook, in the body shape
 * Alertmanager's msteamsv2 notifier sends: `{"type":"message","attachments":[{"contentType":
 * "application/vnd.microsoft.card.adaptive","content":{…card…}}]}`.
 */
import type { WebhookConfig } from "../../config/types.js";
import type { DomainEvent } from "../../domain/types.js";
import {
  chatLine,
  digestTitle,
  type EventSeverity,
  eventLink,
  eventSummaryLine,
  worstSeverity,
} from "./event-line.js";
import { DIGEST_GROUP, jsonObject, type WebhookFormatModule } from "./format.js";

/** Teams refuses bodies of 28 KB and more. */
export const TEAMS_MAX_BODY_BYTES = 28_000;
/** What a card aims at: a digest beyond it keeps its first lines and says "and N more". */
const CARD_BUDGET_BYTES = 27_000;

/** Adaptive Card text colours per severity. */
const COLOURS: Readonly<Record<EventSeverity, string>> = {
  critical: "Attention",
  warning: "Warning",
  ok: "Good",
  info: "Accent",
};

function line(event: DomainEvent, externalURL: string | undefined, bullet: boolean): Record<string, unknown> {
  const link = eventLink(event, externalURL);
  const summary = bullet ? `• ${eventSummaryLine(event)}` : eventSummaryLine(event);
  // Adaptive Card text takes Markdown links.
  return { type: "TextBlock", text: link === undefined ? summary : `${summary} [open](${link})`, wrap: true };
}

function envelope(title: string, severity: EventSeverity, blocks: Record<string, unknown>[]): string {
  return JSON.stringify({
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          msteams: { width: "Full" },
          body: [
            {
              type: "TextBlock",
              text: title,
              weight: "Bolder",
              size: "Medium",
              color: COLOURS[severity],
              wrap: true,
            },
            ...blocks,
          ],
        },
      },
    ],
  });
}

/** The card of `events`; a digest too large for Teams keeps its first lines and ends with "and N more". */
function teamsBody(events: readonly DomainEvent[], webhook: WebhookConfig): { body: string } {
  const severity = worstSeverity(events);
  const [first] = events;
  if (first === undefined) return { body: envelope("[imagewatch]", severity, []) };
  if (events.length === 1) {
    const link = eventLink(first, webhook.externalURL);
    const blocks =
      link === undefined
        ? []
        : [{ type: "TextBlock", text: `[${first.data.name || first.serverId}](${link})`, wrap: true }];
    return { body: envelope(chatLine(first), severity, blocks) };
  }
  const title = `[imagewatch] ${digestTitle(events)}`;
  const lines = events.map((e) => line(e, webhook.externalURL, true));
  let body = envelope(title, severity, lines);
  if (Buffer.byteLength(body) <= CARD_BUDGET_BYTES) return { body };
  // Keep as many lines as fit with the "and N more" line (binary search on the count).
  let lo = 0;
  let hi = lines.length - 1;
  const withMore = (n: number) =>
    envelope(title, severity, [
      ...lines.slice(0, n),
      { type: "TextBlock", text: `… and ${lines.length - n} more`, wrap: true, isSubtle: true },
    ]);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(withMore(mid)) <= CARD_BUDGET_BYTES) lo = mid;
    else hi = mid - 1;
  }
  body = withMore(lo);
  return { body };
}

/** Microsoft Teams Workflows webhooks (the URL's query carries the signature: masked like a secret). */
export const teamsFormat: WebhookFormatModule<"teams"> = {
  name: "teams",
  build: (event, webhook) => teamsBody([event], webhook),
  buildDigest: teamsBody,
  maxBodyBytes: TEAMS_MAX_BODY_BYTES,
  /**
   * A Workflows webhook answers 202 with an empty body; the older connectors answer 200 `1`, or a 200
   * with an error text when the card was refused ("Microsoft Teams endpoint returned HTTP error 4xx").
   */
  platformError(body) {
    const parsed = jsonObject(body);
    const error = parsed?.error;
    if (error !== undefined && error !== null) {
      const message =
        typeof error === "object" && typeof (error as { message?: unknown }).message === "string"
          ? (error as { message: string }).message
          : String(error);
      return { message: `teams error: ${message}`, retryable: false };
    }
    return undefined;
  },
  secret: { use: "unused" },
  urlPathIsCredential: true,
  defaults: { group: DIGEST_GROUP, rateLimit: { count: 4, per: 1000 } },
};
