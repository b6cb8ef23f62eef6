// Unit tests of follow (src/live.ts): how the view stays current over a
// broken event stream. `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundle } from "./bundle.mjs";

const { follow, ClusterState, Code, ConnectError } = await bundle(`export { follow } from "./src/live";
  export { ClusterState } from "./src/state";
  export { Code, ConnectError } from "@connectrpc/connect";`);

// scriptedControl answers WatchEvents call i with streams[i] (a list of
// responses, then an error to throw) and counts the List calls.
function scriptedControl(streams, done) {
  const c = { since: [], loads: 0 };
  c.getCluster = async () => ({ raftTerm: 1n });
  c.listNodes = async () => (c.loads++, { nodes: [] });
  c.listServices = async () => ({ services: [] });
  c.listTasks = async () => ({ tasks: [] });
  c.listPlugins = async () => ({ plugins: [], stats: [] });
  c.watchEvents = async function* (req) {
    c.since.push(req.since);
    const s = streams.shift();
    if (!s) return done();
    for (const res of s.responses) yield { events: [], ...res };
    throw s.error;
  };
  return c;
}

test("a broken stream resumes from its version; a version that is gone reloads", async () => {
  const abort = new AbortController();
  const c = scriptedControl(
    [
      { responses: [{ version: 5n }, { version: 6n }], error: new ConnectError("manager gone", Code.Unavailable) },
      { responses: [{ version: 6n }], error: new ConnectError("version 6 is gone", Code.OutOfRange) },
      { responses: [{ version: 9n }], error: new ConnectError("again", Code.Unavailable) },
    ],
    () => abort.abort(),
  );
  const st = new ClusterState(c);
  await follow(c, st, abort.signal, 1);
  assert.deepEqual(c.since, [0n, 6n, 0n, 9n]);
  assert.equal(c.loads, 2, "lists read at the start and after OutOfRange only");
  assert.equal(st.live, false);
});
