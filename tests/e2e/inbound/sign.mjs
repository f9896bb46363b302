#!/usr/bin/env node
// Inbound webhook signer for herald's end-to-end tests.
//
// Used by the Rust e2e tests in tests/e2e/inbound.rs: they spawn
// `node tests/e2e/inbound/sign.mjs`, write ONE JSON object to stdin and read
// back ONE JSON object on stdout holding the headers to send with the request.
// The point is that each provider's OWN published library produces the
// signature, so the tests prove our server verifies exactly what the provider
// sends (not our own re-implementation of it):
//   github            -> @octokit/webhooks-methods  sign(secret, payload)
//   stripe            -> stripe  Stripe.webhooks.generateTestHeaderString(...)
//   standard-webhooks -> standardwebhooks  new Webhook(secret).sign(id, date, payload)
//   shopify           -> Shopify publishes no signing library, so its documented
//                        HMAC is computed by hand: base64(HMAC-SHA256(secret, body)).
//
// Input (stdin):
//   {"scheme": "github"|"stripe"|"standard-webhooks"|"shopify",
//    "secret": "...", "body": "<exact body string>",
//    "id": "<event/message id, optional>", "timestamp": <unix seconds, optional>}
// Output (stdout): {"<lower-case header name>": "<value>", ...}
// The body is signed as the exact UTF-8 string given. Unknown scheme or bad
// input (including input a provider's library rejects): message on stderr, exit 2.
//
// Dependencies are pinned in package.json / package-lock.json next to this
// file; install them with `npm ci` in this directory.

import crypto from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { Webhook } from 'standardwebhooks';

class InputError extends Error {}

function fail(message) {
  process.stderr.write(`sign.mjs: ${message}\n`);
  process.exit(2);
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const KNOWN_KEYS = new Set(['scheme', 'secret', 'body', 'id', 'timestamp']);

function parseInput(text) {
  let input;
  try {
    input = JSON.parse(text);
  } catch (e) {
    throw new InputError(`stdin is not valid JSON: ${e.message}`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError('stdin must hold one JSON object');
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new InputError(`unknown field "${key}"`);
  }
  const { scheme, secret, body } = input;
  if (typeof scheme !== 'string') throw new InputError('"scheme" must be a string');
  if (typeof secret !== 'string' || secret === '') {
    throw new InputError('"secret" must be a non-empty string');
  }
  if (typeof body !== 'string') throw new InputError('"body" must be a string');

  // null is treated as absent (e.g. a serialized Rust Option::None).
  const id = input.id ?? undefined;
  if (id !== undefined && (typeof id !== 'string' || id === '')) {
    throw new InputError('"id" must be a non-empty string when given');
  }
  let timestamp = input.timestamp ?? undefined;
  if (timestamp === undefined) {
    timestamp = Math.floor(Date.now() / 1000);
  } else if (!Number.isSafeInteger(timestamp) || timestamp <= 0) {
    throw new InputError('"timestamp" must be a positive integer (unix seconds) when given');
  }
  return { scheme, secret, body, id, timestamp };
}

async function headersFor({ scheme, secret, body, id, timestamp }) {
  switch (scheme) {
    case 'github':
      return {
        'x-hub-signature-256': await githubSign(secret, body),
        'x-github-delivery': id ?? crypto.randomUUID(),
        'x-github-event': 'push',
      };
    case 'stripe':
      // Static Stripe.webhooks: no API key / client instance needed.
      return {
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({
          payload: body,
          secret,
          timestamp,
        }),
      };
    case 'standard-webhooks': {
      const msgId = id ?? `msg_${crypto.randomBytes(16).toString('hex')}`;
      return {
        'webhook-id': msgId,
        'webhook-timestamp': String(timestamp),
        // sign() takes a Date and a string/Uint8Array payload (a string is
        // TextEncoder-encoded, i.e. signed as UTF-8).
        'webhook-signature': new Webhook(secret).sign(msgId, new Date(timestamp * 1000), body),
      };
    }
    case 'shopify':
      return {
        'x-shopify-hmac-sha256': crypto
          .createHmac('sha256', secret)
          .update(body, 'utf8')
          .digest('base64'),
        'x-shopify-webhook-id': id ?? crypto.randomUUID(),
        'x-shopify-topic': 'orders/create',
      };
    default:
      throw new InputError(
        `unknown scheme "${scheme}" (expected github, stripe, standard-webhooks or shopify)`,
      );
  }
}

let input;
try {
  input = parseInput(await readStdin());
} catch (e) {
  fail(e.message);
}
let headers;
try {
  headers = await headersFor(input);
} catch (e) {
  // Unknown scheme, or a provider library rejecting the input (e.g. the
  // octokit signer refuses an empty body, standardwebhooks a non-base64 secret).
  fail(e instanceof InputError ? e.message : `signing failed: ${e.message}`);
}
process.stdout.write(`${JSON.stringify(headers)}\n`);
