// Builds dist/ (embedded in the shoal binary by web/assets.go). The output
// must depend on the sources only: scripts/check-generated.sh rebuilds it
// and compares byte for byte.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/app.js",
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) copyFileSync(`static/${f}`, `dist/${f}`);
