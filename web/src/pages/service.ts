// A service's page: its tasks with their states and errors, and a live tail
// of its logs (ServiceLogs with follow). The log element outlives renders.
import { ConnectError } from "@connectrpc/connect";
import type { Control } from "../api";
import { h, table } from "../dom";
import { ago, ports, shortId, taskState, updateStatus } from "../format";
import type { Task } from "../gen/shoal/v1/objects_pb";
import type { ClusterState } from "../state";
import { scaleButton, what } from "./services";

const keepLines = 500;

function taskRow(st: ClusterState, t: Task): HTMLTableRowElement {
  const state = taskState(t.status?.state ?? 0);
  return h("tr", { "data-task": t.id, "data-slot": String(t.slot) },
    h("td", { class: "id" }, shortId(t.id)),
    h("td", {}, t.slot ? `${t.serviceName}.${t.slot}` : t.serviceName),
    h("td", {}, st.nodeName(t.nodeId)),
    h("td", { class: `state ${state}` }, state),
    h("td", { class: "desired" }, taskState(t.desiredState)),
    h("td", {}, ago(t.status?.timestamp)),
    h("td", { class: "error" }, t.status?.err ?? ""),
    h("td", {}, t.status?.message ?? ""));
}

// byRecency: the current task of each slot first, then its history.
function byRecency(a: Task, b: Task): number {
  if (a.slot !== b.slot) return a.slot < b.slot ? -1 : 1;
  return Number((b.meta?.createdAt?.seconds ?? 0n) - (a.meta?.createdAt?.seconds ?? 0n));
}

export class ServicePage {
  private readonly logs = h("pre", { id: "logs" });
  private readonly abort = new AbortController();

  constructor(private readonly control: Control, private readonly st: ClusterState, private readonly name: string) {
    void this.tail();
  }

  render(): HTMLElement {
    const s = this.st.serviceByName(this.name);
    if (!s) return h("section", {}, h("h2", {}, `Service ${this.name}`), h("p", {}, "no such service (removed?)"), this.logs);
    const r = this.st.replicas(s);
    const tasks = this.st.tasksOf(s.id).sort(byRecency);
    return h("section", { id: "service", "data-service": this.name },
      h("h2", {}, `Service ${this.name} `, scaleButton(this.control, this.st, s)),
      h("p", {}, `${r.running}/${r.desired} running · ${what(s)} · ports ${ports(s.endpoint?.ports ?? []) || "none"} · scheduler ${this.st.schedulerOf(s)}`),
      updateStatus(s) && h("p", { class: "update" }, `update: ${updateStatus(s)}`),
      h("h3", {}, "Tasks"),
      table(["id", "name", "node", "state", "desired", "since", "error", "message"], tasks.map((t) => taskRow(this.st, t))),
      h("h3", {}, "Logs"),
      this.logs);
  }

  dispose(): void {
    this.abort.abort();
  }

  private async tail(): Promise<void> {
    const dec = new TextDecoder();
    try {
      const stream = this.control.serviceLogs({ service: this.name, follow: true, tail: 100n }, { signal: this.abort.signal });
      for await (const res of stream) {
        for (const l of res.lines) this.append(`${shortId(l.taskId)} ${dec.decode(l.data).replace(/\n$/, "")}`);
      }
    } catch (e) {
      if (!this.abort.signal.aborted) this.append(`(log stream: ${ConnectError.from(e).message})`);
    }
  }

  private append(line: string): void {
    this.logs.append(line + "\n");
    while (this.logs.childNodes.length > keepLines) this.logs.firstChild?.remove();
    this.logs.scrollTop = this.logs.scrollHeight;
  }
}
