// The nodes page: every node with its role, state and availability, and
// the drain/activate action.
import { toggleDrain } from "../actions";
import type { Control } from "../api";
import { h, table } from "../dom";
import { availability, nodeState, role, shortId } from "../format";
import { NodeAvailability, TaskState, type Node } from "../gen/shoal/v1/objects_pb";
import type { ClusterState } from "../state";

function nodeRow(control: Control, st: ClusterState, n: Node): HTMLTableRowElement {
  const host = n.description?.hostname ?? "";
  const avail = n.spec?.availability ?? 0;
  const running = [...st.tasks.values()].filter((t) => t.nodeId === n.id && t.status?.state === TaskState.RUNNING).length;
  const label = avail === NodeAvailability.DRAIN ? "Activate" : "Drain";
  return h("tr", { "data-node": host },
    h("td", {}, host),
    h("td", { class: "id" }, shortId(n.id)),
    h("td", {}, role(n.role)),
    h("td", { class: `state ${nodeState(n.status?.state ?? 0)}` }, nodeState(n.status?.state ?? 0)),
    h("td", { class: "availability" }, availability(avail)),
    h("td", {}, n.managerStatus?.leader ? "leader" : n.managerStatus ? "manager" : ""),
    h("td", {}, n.description?.backend ?? ""),
    h("td", {}, n.status?.addr ?? ""),
    h("td", { class: "num" }, running),
    h("td", {}, h("button", { class: "drain", onclick: () => void toggleDrain(control, n) }, label)));
}

export function nodesPage(control: Control, st: ClusterState): HTMLElement {
  const nodes = [...st.nodes.values()].sort((a, b) => (a.description?.hostname ?? "").localeCompare(b.description?.hostname ?? ""));
  return h("section", { id: "nodes" },
    h("h2", {}, "Nodes"),
    table(["host", "id", "role", "state", "availability", "manager", "backend", "address", "running", ""],
      nodes.map((n) => nodeRow(control, st, n))));
}
