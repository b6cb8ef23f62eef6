// The view's two actions, each behind a confirmation dialog: scale a
// replicated service, drain or activate a node.
import { clone } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Control } from "./api";
import { h } from "./dom";
import { NodeAvailability, ServiceSpecSchema, type Node } from "./gen/shoal/v1/objects_pb";
import type { ClusterState } from "./state";
import { availability } from "./format";

// confirm shows a modal with body and resolves true on OK; check runs on OK
// and may keep the dialog open with an error message.
function confirm(title: string, body: HTMLElement, check: () => string = () => ""): Promise<boolean> {
  const err = h("p", { class: "error" });
  const dlg = h("dialog", { id: "confirm" }, h("h3", {}, title), body, err);
  const ok = h("button", { id: "confirm-ok", class: "primary" }, "OK");
  const cancel = h("button", { id: "confirm-cancel" }, "Cancel");
  dlg.append(h("div", { class: "buttons" }, cancel, ok));
  document.body.append(dlg);
  dlg.showModal();
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => {
      const msg = check();
      if (msg) err.textContent = msg;
      else done(true);
    });
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", () => done(false));
  });
}

// showError shows why the last action failed in the page's error line
// ("" clears it).
function showError(msg: string): void {
  const line = document.getElementById("action-error");
  if (line) line.textContent = msg;
}

// run makes the call of a confirmed action and shows its outcome.
async function run(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
    showError("");
  } catch (e) {
    showError(ConnectError.from(e).message);
  }
}

// scaleService asks for a replica count, then writes it into the service as
// the view knows it at that moment (the dialog may stay open across updates).
export async function scaleService(control: Control, st: ClusterState, id: string): Promise<void> {
  const s = st.services.get(id);
  const mode = s?.spec?.mode;
  if (!s?.spec || mode?.case !== "replicated") return;
  const name = s.spec.name;
  const input = h("input", { id: "scale-replicas", type: "number", min: 0, value: String(mode.value.replicas) });
  const body = h("p", {}, `Replicas of ${name}: `, input);
  const valid = () => (/^\d+$/.test(input.value) ? "" : "replicas: a whole number, 0 or more");
  if (!(await confirm(`Scale ${name}`, body, valid))) return;
  const now = st.services.get(id);
  if (!now?.spec) return showError(`service ${name} was removed`);
  const spec = clone(ServiceSpecSchema, now.spec);
  if (spec.mode.case === "replicated") spec.mode.value.replicas = BigInt(input.value);
  await run(() => control.updateService({ service: id, version: now.meta?.version ?? 0n, spec }));
}

export async function toggleDrain(control: Control, n: Node): Promise<void> {
  const draining = n.spec?.availability === NodeAvailability.DRAIN;
  const to = draining ? NodeAvailability.ACTIVE : NodeAvailability.DRAIN;
  const name = n.description?.hostname || n.id;
  const what = draining ? "Its tasks may be placed there again." : "Its tasks move to other nodes.";
  if (!(await confirm(`Make ${name} ${availability(to)}?`, h("p", {}, what)))) return;
  await run(() => control.updateNode({ node: n.id, availability: to }));
}
