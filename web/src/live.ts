// follow keeps a ClusterState current from WatchEvents: no polling. The
// stream's first message says it is live; the lists are read after it, so
// no change falls between them. A broken stream resumes from the last
// version it reached (since), or reloads when that version is gone.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Control } from "./api";
import type { ClusterState } from "./state";

// retryMs is the wait before reconnecting a broken stream.
export async function follow(control: Control, state: ClusterState, signal: AbortSignal, retryMs = 1000): Promise<void> {
  let since = 0n;
  let loaded = false;
  while (!signal.aborted) {
    try {
      for await (const res of control.watchEvents({ since }, { signal })) {
        if (!loaded) {
          await state.load();
          loaded = true;
        }
        let plugins = false;
        for (const ev of res.events) plugins = state.apply(ev) || plugins;
        if (plugins) await state.loadPlugins();
        if (res.version > since) since = res.version;
        state.live = true;
        state.problem = "";
        state.changed();
      }
      state.problem = "the event stream ended";
    } catch (e) {
      if (signal.aborted) return;
      const err = ConnectError.from(e);
      if (err.code === Code.OutOfRange) {
        since = 0n;
        loaded = false;
      }
      state.problem = err.message;
      if (!loaded && err.code === Code.Unimplemented) await loadOnce(state);
    }
    state.live = false;
    state.changed();
    await sleep(retryMs, signal);
  }
}

// loadOnce shows what there is when the manager has no event stream.
async function loadOnce(state: ClusterState): Promise<void> {
  try {
    await state.load();
  } catch (e) {
    state.problem = ConnectError.from(e).message;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
