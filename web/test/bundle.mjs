// bundle compiles TypeScript exports of the view with esbuild in memory and
// imports them, so node's test runner can test src/ without a build step.
import { build } from "esbuild";

export async function bundle(contents) {
  const out = await build({
    stdin: { contents, resolveDir: new URL("..", import.meta.url).pathname, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
  });
  return import("data:text/javascript;base64," + Buffer.from(out.outputFiles[0].text).toString("base64"));
}
