/**
 * Herald's HTTP API, as TypeScript types: GENERATED from the server's OpenAPI document
 * (`GET /v1/openapi.json`) by openapi-typescript. Do not edit by hand.
 *
 * Regenerate against a running herald (built from the same sources):
 *
 *     HERALD_URL=http://127.0.0.1:8080 npm run generate
 *
 * `npm run check` fails while this file differs from what the server describes.
 */
export {};
