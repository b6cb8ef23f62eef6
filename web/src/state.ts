// ClusterState is the view's copy of the cluster: filled by List calls once,
// then kept current by WatchEvents (each event carries the whole object).
import type { Event } from "./gen/shoal/v1/control_pb";
import type { PluginStats } from "./gen/shoal/v1/control_pb";
import { PluginKind, TaskState, type Node, type PluginModule, type Service, type Task } from "./gen/shoal/v1/objects_pb";
import type { Control } from "./api";

type Versioned = { id: string; meta?: { version: bigint } };

// put keeps the newer of the stored and the given object: a List answer and
// the events that overlap it may arrive in either order.
function put<T extends Versioned>(m: Map<string, T>, o: T): void {
  const cur = m.get(o.id);
  if (!cur || (cur.meta?.version ?? 0n) <= (o.meta?.version ?? 0n)) m.set(o.id, o);
}

function upsert<T extends Versioned>(m: Map<string, T>, o: T, remove: boolean): void {
  if (remove) m.delete(o.id);
  else put(m, o);
}

export class ClusterState {
  nodes = new Map<string, Node>();
  services = new Map<string, Service>();
  tasks = new Map<string, Task>();
  plugins = new Map<string, PluginModule>();
  pluginStats = new Map<string, PluginStats>();
  clusterName = "";
  raftTerm = 0n;
  // live says whether the event stream is up; problem says why not.
  live = false;
  problem = "";
  private listeners = new Set<() => void>();

  constructor(private readonly control: Control) {}

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  changed(): void {
    for (const f of this.listeners) f();
  }

  // load reads every kind of object the view shows, replacing what was
  // there (a stream that could not resume starts over).
  async load(): Promise<void> {
    const [cl, nodes, services, tasks] = await Promise.all([
      this.control.getCluster({}),
      this.control.listNodes({}),
      this.control.listServices({}),
      this.control.listTasks({}),
    ]);
    this.clusterName = cl.cluster?.spec?.name ?? "";
    this.raftTerm = cl.raftTerm;
    for (const m of [this.nodes, this.services, this.tasks]) m.clear();
    nodes.nodes.forEach((n) => put(this.nodes, n));
    services.services.forEach((s) => put(this.services, s));
    tasks.tasks.forEach((t) => put(this.tasks, t));
    await this.loadPlugins();
    this.changed();
  }

  // loadPlugins reads the plugins with the leader's counters (which are
  // not stored objects, so events do not carry them).
  async loadPlugins(): Promise<void> {
    const res = await this.control.listPlugins({});
    this.plugins.clear();
    this.pluginStats.clear();
    res.plugins.forEach((p, i) => {
      this.plugins.set(p.id, p);
      const st = res.stats[i];
      if (st) this.pluginStats.set(p.id, st);
    });
  }

  // apply folds one event into the state; it reports whether the plugins
  // need a reload.
  apply(ev: Event): boolean {
    const o = ev.object?.object;
    const remove = ev.action === "remove";
    if (o?.case === "node") upsert(this.nodes, o.value, remove);
    else if (o?.case === "service") upsert(this.services, o.value, remove);
    else if (o?.case === "task") upsert(this.tasks, o.value, remove);
    else if (o?.case === "cluster") this.clusterName = o.value.spec?.name ?? this.clusterName;
    return o?.case === "plugin";
  }

  serviceByName(name: string): Service | undefined {
    for (const s of this.services.values()) if (s.spec?.name === name || s.id === name) return s;
    return undefined;
  }

  tasksOf(serviceId: string): Task[] {
    return [...this.tasks.values()].filter((t) => t.serviceId === serviceId);
  }

  // replicas counts a service's running tasks against the tasks it wants.
  replicas(s: Service): { running: number; desired: number } {
    const current = this.tasksOf(s.id).filter((t) => t.desiredState === TaskState.RUNNING);
    const running = current.filter((t) => t.status?.state === TaskState.RUNNING).length;
    const mode = s.spec?.mode;
    const desired = mode?.case === "replicated" ? Number(mode.value.replicas) : current.length;
    return { running, desired };
  }

  // schedulerOf names the scheduler plugin a service uses: its own, else
  // the active one.
  schedulerOf(s: Service): string {
    if (s.spec?.scheduler) return s.spec.scheduler;
    for (const p of this.plugins.values()) {
      if (p.kind === PluginKind.SCHEDULER && this.pluginStats.get(p.id)?.active) return `${p.name} (default)`;
    }
    return "default";
  }

  nodeName(id: string): string {
    return this.nodes.get(id)?.description?.hostname || id.slice(0, 12);
  }
}
