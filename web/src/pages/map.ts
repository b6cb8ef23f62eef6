// The map: one column per node with the tasks it runs, as the swarm
// visualizer draws them.
import { h } from "../dom";
import { availability, nodeState, role, taskState } from "../format";
import { TaskState, type Node, type Task } from "../gen/shoal/v1/objects_pb";
import type { ClusterState } from "../state";

function card(t: Task): HTMLElement {
  const state = taskState(t.status?.state ?? 0);
  const name = t.slot ? `${t.serviceName}.${t.slot}` : t.serviceName;
  return h("div", { class: `task ${state}`, "data-task": t.id, title: t.status?.err || t.status?.message || "" },
    h("a", { href: `#/services/${encodeURIComponent(t.serviceName)}` }, name), h("span", { class: "state" }, state));
}

function column(n: Node, tasks: Task[]): HTMLElement {
  const host = n.description?.hostname ?? n.id;
  return h("div", { class: `column ${nodeState(n.status?.state ?? 0)}`, "data-node": host },
    h("header", {}, h("b", {}, host), h("small", {}, `${role(n.role)}${n.managerStatus?.leader ? " (leader)" : ""} · ${nodeState(n.status?.state ?? 0)} · ${availability(n.spec?.availability ?? 0)}`)),
    tasks.map(card));
}

export function mapPage(st: ClusterState): HTMLElement {
  const current = [...st.tasks.values()]
    .filter((t) => t.desiredState === TaskState.RUNNING && t.nodeId)
    .sort((a, b) => a.serviceName.localeCompare(b.serviceName) || Number(a.slot - b.slot));
  const nodes = [...st.nodes.values()].sort((a, b) => (a.description?.hostname ?? "").localeCompare(b.description?.hostname ?? ""));
  return h("section", { id: "map" },
    h("h2", {}, "Tasks by node"),
    h("div", { class: "columns" }, nodes.map((n) => column(n, current.filter((t) => t.nodeId === n.id)))));
}
