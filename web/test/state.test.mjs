// Unit tests of the view's state (src/state.ts): `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundle } from "./bundle.mjs";

const m = await bundle(`export { ClusterState } from "./src/state";
  export * from "./src/gen/shoal/v1/objects_pb";
  export { EventSchema } from "./src/gen/shoal/v1/control_pb";
  export { create } from "@bufbuild/protobuf";`);
const { ClusterState, create, EventSchema, NodeSchema, ServiceSchema, TaskSchema, TaskState } = m;

const meta = (version) => ({ version: BigInt(version) });
const node = (id, version, hostname) => create(NodeSchema, { id, meta: meta(version), description: { hostname } });
const event = (action, c, value) => create(EventSchema, { action, object: { object: { case: c, value } } });

// fakeControl answers the List calls load makes with fixed objects.
function fakeControl({ nodes = [], services = [], tasks = [] } = {}) {
  return {
    getCluster: async () => ({ cluster: { spec: { name: "test" } }, raftTerm: 3n }),
    listNodes: async () => ({ nodes }),
    listServices: async () => ({ services }),
    listTasks: async () => ({ tasks }),
    listPlugins: async () => ({ plugins: [], stats: [] }),
  };
}

test("an event older than the list it follows changes nothing; a newer one replaces", async () => {
  const st = new ClusterState(fakeControl({ nodes: [node("n1", 5, "listed")] }));
  await st.load();
  st.apply(event("update", "node", node("n1", 3, "stale")));
  assert.equal(st.nodes.get("n1").description.hostname, "listed");
  st.apply(event("update", "node", node("n1", 7, "newer")));
  assert.equal(st.nodes.get("n1").description.hostname, "newer");
});

test("remove deletes, create adds, and load starts over", async () => {
  const st = new ClusterState(fakeControl({ nodes: [node("n1", 1, "a")] }));
  await st.load();
  st.apply(event("create", "node", node("n2", 2, "b")));
  st.apply(event("remove", "node", node("n1", 3, "a")));
  assert.deepEqual([...st.nodes.keys()], ["n2"]);
  await st.load();
  assert.deepEqual([...st.nodes.keys()], ["n1"]);
  assert.equal(st.clusterName, "test");
});

test("replicas counts running tasks meant to run against the replicas asked for", () => {
  const st = new ClusterState(fakeControl());
  const svc = create(ServiceSchema, { id: "s1", meta: meta(1), spec: { name: "web", mode: { case: "replicated", value: { replicas: 3n } } } });
  st.apply(event("create", "service", svc));
  const task = (id, desired, state) =>
    create(TaskSchema, { id, meta: meta(1), serviceId: "s1", desiredState: desired, status: { state } });
  st.apply(event("create", "task", task("t1", TaskState.RUNNING, TaskState.RUNNING)));
  st.apply(event("create", "task", task("t2", TaskState.RUNNING, TaskState.STARTING)));
  st.apply(event("create", "task", task("t3", TaskState.SHUTDOWN, TaskState.RUNNING)));
  assert.deepEqual(st.replicas(svc), { running: 1, desired: 3 });
  assert.equal(st.serviceByName("web"), svc);
});

test("a plugin event asks for the plugins to be read again", () => {
  const st = new ClusterState(fakeControl());
  assert.equal(st.apply(event("update", "plugin", { id: "p", name: "spread" })), true);
  assert.equal(st.apply(event("update", "node", node("n1", 1, "a"))), false);
});
