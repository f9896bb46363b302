// Generates `src/schema.ts` from a running Herald's OpenAPI document, the one way both
// `npm run generate` (which writes it) and `npm run check` (which compares it) make it.

import openapiTS, { astToString } from "openapi-typescript";

/** Where the generated types live, relative to the package. */
export const SCHEMA_FILE = "src/schema.ts";

/** The header of the generated file: what it is and how to make it again. */
export const HEADER = `/**
 * Herald's HTTP API, as TypeScript types: GENERATED from the server's OpenAPI document
 * (\`GET /v1/openapi.json\`) by openapi-typescript. Do not edit by hand.
 *
 * Regenerate against a running herald (built from the same sources):
 *
 *     HERALD_URL=http://127.0.0.1:8080 npm run generate
 *
 * \`npm run check\` fails while this file differs from what the server describes.
 */

`;

/**
 * The server's base URL from `HERALD_URL`, without a trailing slash.
 *
 * @throws when `HERALD_URL` is not set.
 */
export function heraldUrl() {
  const url = process.env.HERALD_URL;
  if (!url) {
    throw new Error(
      "HERALD_URL is not set: start a herald (`herald serve --bind 127.0.0.1:8080`) and set " +
        "HERALD_URL=http://127.0.0.1:8080",
    );
  }
  return url.replace(/\/+$/, "");
}

/**
 * The text `src/schema.ts` should hold for the OpenAPI document served by `baseUrl`.
 *
 * @throws when the document cannot be fetched or is not JSON.
 */
export async function generateSchema(baseUrl) {
  const url = `${baseUrl}/v1/openapi.json`;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`cannot fetch ${url}: ${error.cause?.message ?? error.message}`);
  }
  if (!response.ok) {
    throw new Error(`${url} answered ${response.status}`);
  }
  const document = await response.json();
  const ast = await openapiTS(document, { silent: true });
  return HEADER + astToString(ast);
}
