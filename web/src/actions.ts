// The view's two actions, each behind a confirmation dialog: scale a
// replicated service, drain or activate a node.
import { clone } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Control } from "./api";
import { h } from "./dom";
import { NodeAvailability, ServiceSpecSchema, type Node, type Service } from "./gen/shoal/v1/objects_pb";
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

// report shows a failed action's error in the page's status line.
function report(e: unknown): void {
  const line = document.getElementById("action-error");
  if (line) line.textContent = ConnectError.from(e).message;
}

export async function scaleService(control: Control, s: Service): Promise<void> {
  const mode = s.spec?.mode;
  if (!s.spec || mode?.case !== "replicated") return;
  const input = h("input", { id: "scale-replicas", type: "number", min: 0, value: String(mode.value.replicas) });
  const body = h("p", {}, `Replicas of ${s.spec.name}: `, input);
  const valid = () => (/^\d+$/.test(input.value) ? "" : "replicas: a whole number, 0 or more");
  if (!(await confirm(`Scale ${s.spec.name}`, body, valid))) return;
  const spec = clone(ServiceSpecSchema, s.spec);
  if (spec.mode.case === "replicated") spec.mode.value.replicas = BigInt(input.value);
  try {
    await control.updateService({ service: s.id, version: s.meta?.version ?? 0n, spec });
  } catch (e) {
    report(e);
  }
}

export async function toggleDrain(control: Control, n: Node): Promise<void> {
  const draining = n.spec?.availability === NodeAvailability.DRAIN;
  const to = draining ? NodeAvailability.ACTIVE : NodeAvailability.DRAIN;
  const name = n.description?.hostname || n.id;
  const what = draining ? "Its tasks may be placed there again." : "Its tasks move to other nodes.";
  if (!(await confirm(`Make ${name} ${availability(to)}?`, h("p", {}, what)))) return;
  try {
    await control.updateNode({ node: n.id, availability: to });
  } catch (e) {
    report(e);
  }
}
