// `npm run check`: fails when the committed files have drifted from what they are made from.
//
// (a) `src/schema.ts` must be what openapi-typescript generates from the OpenAPI document of
//     the herald at `HERALD_URL` (a server built from the same sources);
// (b) `dist/` must be exactly what `tsc` builds from `src/` (the Rust build embeds
//     `dist/index.js` as the web console's client, so it must not lag behind the sources).
//
// Each drift is named with the way to fix it; the exit code is 1 if there is any.

import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { SCHEMA_FILE, generateSchema, heraldUrl } from "./schema.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const problems = [];

/** Where two texts first differ, as `line N: expected … / found …`. */
function firstDifference(expected, found) {
  const a = expected.split("\n");
  const b = found.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    if (a[i] !== b[i]) {
      const show = (line) => (line === undefined ? "(end of file)" : JSON.stringify(line));
      return `line ${i + 1}: expected ${show(a[i])}, found ${show(b[i])}`;
    }
  }
  return "the files differ";
}

async function readOrNull(path) {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") return null;
    throw error;
  }
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error) => {
    if (error.code === "ENOENT") return [];
    throw error;
  });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

async function checkSchema() {
  const url = heraldUrl();
  const expected = await generateSchema(url);
  const found = await readOrNull(join(root, SCHEMA_FILE));
  if (found === expected) return;
  problems.push(
    `${SCHEMA_FILE} differs from the types of ${url}/v1/openapi.json ` +
      `(${found === null ? "it is missing" : firstDifference(expected, found)}).\n` +
      `  The API changed, or the file was edited by hand. Fix: with that server running,\n` +
      `  HERALD_URL=${url} npm run generate && npm run build, then commit src/ and dist/.`,
  );
}

async function checkDist() {
  const out = await mkdtemp(join(tmpdir(), "herald-client-dist-"));
  try {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json", "--outDir", out], {
      cwd: root,
      encoding: "utf8",
    });
    if (build.status !== 0) {
      problems.push(
        `tsc fails on src/, so dist/ cannot be checked:\n${build.stdout}${build.stderr}` +
          `  Fix the sources, then npm run build and commit dist/.`,
      );
      return;
    }
    const dist = join(root, "dist");
    const built = await filesUnder(out);
    const committed = await filesUnder(dist);
    const drifted = [];
    for (const file of built) {
      const found = await readOrNull(join(dist, file));
      if (found === null) {
        drifted.push(`dist/${file} is missing`);
      } else {
        const expected = await readFile(join(out, file), "utf8");
        if (found !== expected) {
          drifted.push(`dist/${file} is not what tsc builds (${firstDifference(expected, found)})`);
        }
      }
    }
    for (const file of committed) {
      if (!built.includes(file)) drifted.push(`dist/${file} is not built from src/ any more`);
    }
    if (drifted.length > 0) {
      problems.push(
        `dist/ differs from a fresh build of src/:\n` +
          drifted.map((line) => `  - ${line}\n`).join("") +
          `  Fix: npm run build (delete the stale files it names), then commit dist/.`,
      );
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

try {
  await checkSchema();
  await checkDist();
} catch (error) {
  console.error(`npm run check: ${error.message}`);
  process.exit(1);
}
if (problems.length > 0) {
  console.error(`npm run check found drift:\n\n${problems.join("\n\n")}`);
  process.exit(1);
}
console.log(
  `npm run check: ${SCHEMA_FILE} matches the server's OpenAPI document; dist/ matches src/.`,
);
