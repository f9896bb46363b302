/**
 * Verifying the webhooks Herald sends (Node.js only: it uses `node:crypto`).
 *
 * Herald signs every delivery the Standard Webhooks way: `webhook-id`, `webhook-timestamp`
 * (Unix seconds) and `webhook-signature`, a space-separated list of `v1,<base64>` signatures,
 * each an HMAC-SHA256 of `"{webhook-id}.{webhook-timestamp}.{body}"`. During a secret rotation
 * both the new and the old secret sign, so any one matching signature is enough.
 *
 * ```ts
 * import { verifyWebhook } from "@herald/client/webhook";
 *
 * const event = verifyWebhook(process.env.HERALD_WEBHOOK_SECRET!, request.headers, rawBody);
 * ```
 */
/** A delivery that does not verify; `message` says why. */
export declare class WebhookVerificationError extends Error {
    constructor(message: string);
}
/** How `verifyWebhook` checks. */
export interface VerifyOptions {
    /** How far the timestamp may be from now, either way, in seconds. Default 300. */
    toleranceSeconds?: number;
    /** The time to check the timestamp against; default now. */
    now?: Date;
}
/** Request headers as Node's `http` gives them (names lower-case), or a fetch `Headers`. */
export type WebhookHeaders = Record<string, string | string[] | undefined> | Headers;
/**
 * Checks that a delivery comes from Herald and was neither altered nor replayed late, and
 * returns its parsed JSON body (`{"type", "timestamp", "data"}`).
 *
 * `secret` is the subscription's (or the job's webhook's) secret: a `whsec_<base64>` secret
 * signs with its decoded bytes, any other with its UTF-8 bytes, as Herald does. `body` must be
 * the raw body as received: parsing and serialising it again changes the bytes.
 *
 * @throws {WebhookVerificationError} when a header is missing or malformed, the timestamp is
 *   outside the tolerance, no signature matches, or the body is not JSON.
 */
export declare function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array, options?: VerifyOptions): unknown;
