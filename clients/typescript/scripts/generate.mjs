// `npm run generate`: writes `src/schema.ts` from the OpenAPI document of the herald at
// `HERALD_URL`. Run `npm run build` afterwards, and commit both `src/` and `dist/`.

import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { SCHEMA_FILE, generateSchema, heraldUrl } from "./schema.mjs";

const target = fileURLToPath(new URL(`../${SCHEMA_FILE}`, import.meta.url));
try {
  const text = await generateSchema(heraldUrl());
  await writeFile(target, text);
  console.log(`wrote ${SCHEMA_FILE}`);
} catch (error) {
  console.error(`npm run generate: ${error.message}`);
  process.exit(1);
}
