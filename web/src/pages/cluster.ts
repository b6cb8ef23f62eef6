// The cluster page: managers (and the leader), workers and their states.
import { h, table } from "../dom";
import { availability, nodeState, shortId } from "../format";
import { NodeRole, Reachability, type Node } from "../gen/shoal/v1/objects_pb";
import type { ClusterState } from "../state";

function reach(n: Node): string {
  const m = n.managerStatus;
  if (!m) return "";
  if (m.leader) return "leader";
  if (m.learner) return "joining";
  return (Reachability[m.reachability] ?? "").toLowerCase();
}

export function clusterPage(st: ClusterState): HTMLElement {
  const nodes = [...st.nodes.values()].sort((a, b) => (a.description?.hostname ?? "").localeCompare(b.description?.hostname ?? ""));
  const managers = nodes.filter((n) => n.role === NodeRole.MANAGER);
  const workers = nodes.filter((n) => n.role !== NodeRole.MANAGER);
  const leader = managers.find((n) => n.managerStatus?.leader);
  const row = (n: Node, extra: string[]) =>
    h("tr", { "data-node": n.description?.hostname ?? n.id },
      h("td", {}, n.description?.hostname ?? ""), h("td", { class: "id" }, shortId(n.id)),
      h("td", { class: `state ${nodeState(n.status?.state ?? 0)}` }, nodeState(n.status?.state ?? 0)),
      extra.map((x) => h("td", {}, x)));
  return h("section", { id: "cluster" },
    h("h2", {}, `Cluster ${st.clusterName}`),
    h("p", {}, `${managers.length} managers, ${workers.length} workers; leader ${leader?.description?.hostname ?? "unknown"}, Raft term ${st.raftTerm}`),
    h("h3", {}, "Managers"),
    table(["host", "id", "state", "raft", "address"], managers.map((n) => row(n, [reach(n), n.managerStatus?.addr ?? ""]))),
    h("h3", {}, "Workers"),
    table(["host", "id", "state", "availability", "address"], workers.map((n) => row(n, [availability(n.spec?.availability ?? 0), n.status?.addr ?? ""]))));
}
