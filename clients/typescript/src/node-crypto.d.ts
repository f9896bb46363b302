/**
 * The two functions of `node:crypto` that `webhook.ts` uses, declared here so that the package
 * compiles without Node's type definitions: the rest of the client must run in browsers too,
 * and leaving Node's types out lets the compiler refuse any Node-only API in `index.ts`.
 */
declare module "node:crypto" {
  interface Hmac {
    update(data: string | Uint8Array): Hmac;
    digest(): Uint8Array;
  }
  export function createHmac(algorithm: "sha256", key: Uint8Array): Hmac;
  export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}
