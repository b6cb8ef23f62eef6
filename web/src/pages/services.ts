// The services page: running/desired, ports and scheduler of each service,
// and the scale action.
import { scaleService } from "../actions";
import type { Control } from "../api";
import { h, link, table } from "../dom";
import { ports, shortId, updateStatus } from "../format";
import type { Service } from "../gen/shoal/v1/objects_pb";
import type { ClusterState } from "../state";

// what says what a service runs: its image or its command.
export function what(s: Service): string {
  const rt = s.spec?.task?.runtime;
  if (rt?.case === "container") return rt.value.image;
  if (rt?.case === "process") return rt.value.command.join(" ");
  return "";
}

export function scaleButton(control: Control, st: ClusterState, s: Service): HTMLElement | null {
  if (s.spec?.mode.case !== "replicated") return null;
  return h("button", { class: "scale", onclick: () => void scaleService(control, st, s.id) }, "Scale");
}

function serviceRow(control: Control, st: ClusterState, s: Service): HTMLTableRowElement {
  const name = s.spec?.name ?? s.id;
  const r = st.replicas(s);
  const mode = s.spec?.mode.case ?? "";
  return h("tr", { "data-service": name },
    h("td", {}, link(`#/services/${encodeURIComponent(name)}`, name)),
    h("td", { class: "id" }, shortId(s.id)),
    h("td", {}, mode),
    h("td", { class: r.running === r.desired ? "replicas ok" : "replicas short" }, `${r.running}/${r.desired}`),
    h("td", {}, what(s)),
    h("td", {}, ports(s.endpoint?.ports ?? s.spec?.endpoint?.ports ?? [])),
    h("td", {}, st.schedulerOf(s)),
    h("td", { class: "update" }, updateStatus(s)),
    h("td", {}, scaleButton(control, st, s)));
}

export function servicesPage(control: Control, st: ClusterState): HTMLElement {
  const svcs = [...st.services.values()].sort((a, b) => (a.spec?.name ?? "").localeCompare(b.spec?.name ?? ""));
  return h("section", { id: "services" },
    h("h2", {}, "Services"),
    table(["name", "id", "mode", "replicas", "runs", "ports", "scheduler", "update", ""], svcs.map((s) => serviceRow(control, st, s))));
}
