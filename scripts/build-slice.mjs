// Generates JavaScript + TypeScript declarations from slice/*.ice into src/gen/ (and dist/gen/),
// with the npm slice2js that is the same release as the pinned `ice` runtime (3.7.110).
import { compile } from "slice2js";
import { mkdirSync, copyFileSync, readFileSync, readdirSync, writeFileSync, statSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sliceDir = join(root, "slice");
const genDir = join(root, "src", "gen");
const distGenDir = join(root, "dist", "src", "gen");
const sources = ["iceflix.ice", "iceflix-ext.ice"];

function newest(paths) {
  return Math.max(...paths.filter(existsSync).map((p) => statSync(p).mtimeMs));
}

const inputs = sources.map((s) => join(sliceDir, s));
const outputs = sources.flatMap((s) => [s.replace(/\.ice$/, ".js"), s.replace(/\.ice$/, ".d.ts")]).map((f) => join(genDir, f));
const upToDate = outputs.every(existsSync) && newest(outputs) >= newest(inputs);

if (!upToDate) {
  mkdirSync(genDir, { recursive: true });
  const code = await new Promise((resolve, reject) => {
    const child = compile(["--ice", "--typescript", "--output-dir", genDir, ...inputs], { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", resolve);
  });
  if (code !== 0) {
    console.error(`slice2js failed with exit code ${code}`);
    process.exit(1);
  }
  // slice2js names an included Slice file as a package ("iceflix"); point it at the sibling module.
  for (const f of ["iceflix-ext.js", "iceflix-ext.d.ts"]) {
    const file = join(genDir, f);
    const text = readFileSync(file, "utf8")
      .replace(/require\("iceflix"\)/g, 'require("./iceflix.js")')
      .replace(/from "iceflix"/g, 'from "./iceflix.js"');
    writeFileSync(file, text);
  }
  // Generated code is CommonJS; the project is ESM.
  writeFileSync(join(genDir, "package.json"), '{ "type": "commonjs" }\n');
}

// tsc does not copy .js files: put the generated modules where the compiled code imports them.
mkdirSync(distGenDir, { recursive: true });
for (const f of readdirSync(genDir)) {
  if (f.endsWith(".js") || f === "package.json") copyFileSync(join(genDir, f), join(distGenDir, f));
}
