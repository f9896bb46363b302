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
import { createHmac, timingSafeEqual } from "node:crypto";
/** A delivery that does not verify; `message` says why. */
export class WebhookVerificationError extends Error {
    constructor(message) {
        super(message);
        this.name = "WebhookVerificationError";
    }
}
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
export function verifyWebhook(secret, headers, body, options = {}) {
    const id = header(headers, "webhook-id");
    const timestamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!/^\d+$/.test(timestamp)) {
        throw new WebhookVerificationError(`webhook-timestamp is not a number of seconds: ${timestamp}`);
    }
    const tolerance = options.toleranceSeconds ?? 300;
    const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const skew = now - Number(timestamp);
    if (skew > tolerance) {
        throw new WebhookVerificationError(`the timestamp is ${skew} s in the past (tolerance ${tolerance} s)`);
    }
    if (-skew > tolerance) {
        throw new WebhookVerificationError(`the timestamp is ${-skew} s in the future (tolerance ${tolerance} s)`);
    }
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const expected = createHmac("sha256", secretKey(secret))
        .update(`${id}.${timestamp}.`)
        .update(bytes)
        .digest();
    let versioned = 0;
    for (const candidate of signatures.split(" ")) {
        const [version, encoded] = candidate.split(",", 2);
        if (version !== "v1" || encoded === undefined)
            continue;
        versioned += 1;
        const signature = decodeBase64(encoded);
        if (signature !== undefined &&
            signature.length === expected.length &&
            timingSafeEqual(signature, expected)) {
            try {
                return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
            }
            catch {
                throw new WebhookVerificationError("the body is not JSON");
            }
        }
    }
    throw new WebhookVerificationError(versioned === 0
        ? "webhook-signature holds no v1 signature"
        : "no signature matches the secret and the body");
}
/** The key bytes of a secret: a well-formed `whsec_<base64>` decoded, else its UTF-8 bytes. */
function secretKey(secret) {
    if (secret.startsWith("whsec_")) {
        const key = decodeBase64(secret.slice("whsec_".length));
        if (key !== undefined && key.length > 0)
            return key;
    }
    return new TextEncoder().encode(secret);
}
/** Standard, padded base64; `undefined` for anything else. */
function decodeBase64(text) {
    if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
        return undefined;
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1)
        bytes[i] = binary.charCodeAt(i);
    return bytes;
}
/** One header's value (the first, when repeated). */
function header(headers, name) {
    let value;
    if (typeof headers.get === "function") {
        value = headers.get(name);
    }
    else {
        const record = headers;
        value = record[name];
        if (value === undefined) {
            const key = Object.keys(record).find((k) => k.toLowerCase() === name);
            if (key !== undefined)
                value = record[key];
        }
    }
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined || first === null || first === "") {
        throw new WebhookVerificationError(`the ${name} header is missing`);
    }
    return first;
}
