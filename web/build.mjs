// Builds dist/ (embedded in the shoal binary by web/assets.go). The output
// must depend on the sources only: scripts/check-generated.sh rebuilds it
// and compares byte for byte.
import { build } from "esbuild";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shoal</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<noscript>The shoal dashboard needs JavaScript.</noscript>
<script type="module" src="app.js"></script>
</body>
</html>
`;

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: { app: "src/main.ts", style: "src/style.css" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
writeFileSync("dist/index.html", page.replace(/\n(?!$)/g, ""));
