// The plugins page: installed scheduling and allocation modules, which is
// active, and the leader's call counters.
import { h, table } from "../dom";
import { pluginKind, shortId } from "../format";
import type { ClusterState } from "../state";

export function pluginsPage(st: ClusterState): HTMLElement {
  const rows = [...st.plugins.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => {
      const s = st.pluginStats.get(p.id);
      return h("tr", { "data-plugin": p.name },
        h("td", {}, p.name), h("td", {}, pluginKind(p.kind)), h("td", { class: "id" }, shortId(p.id)),
        h("td", {}, p.builtin ? "built-in" : `${p.size} B`), h("td", {}, s?.active ? "active" : ""),
        h("td", { class: "num" }, String(s?.calls ?? 0n)), h("td", { class: "num" }, String(s?.failures ?? 0n)),
        h("td", { class: "error" }, s?.lastError ?? ""));
    });
  return h("section", { id: "plugins" },
    h("h2", {}, "Plugins"),
    table(["name", "kind", "id", "module", "", "calls", "failures", "last error"], rows));
}
