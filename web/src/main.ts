// The live web view of a shoal cluster. Routes are URL fragments; every
// change of the cluster state (from WatchEvents) re-renders the page.
import { newControl, type Control } from "./api";
import { h } from "./dom";
import { follow } from "./live";
import { clusterPage } from "./pages/cluster";
import { mapPage } from "./pages/map";
import { nodesPage } from "./pages/nodes";
import { pluginsPage } from "./pages/plugins";
import { ServicePage } from "./pages/service";
import { servicesPage } from "./pages/services";
import { ClusterState } from "./state";

interface Page {
  render(): HTMLElement;
  dispose?(): void;
}

const nav: [string, string][] = [
  ["#/cluster", "Cluster"],
  ["#/nodes", "Nodes"],
  ["#/services", "Services"],
  ["#/map", "Map"],
  ["#/plugins", "Plugins"],
];

function route(control: Control, st: ClusterState, hash: string): Page {
  const [, top = "", arg] = hash.split("/");
  switch (top) {
    case "nodes":
      return { render: () => nodesPage(control, st) };
    case "services":
      if (arg) return new ServicePage(control, st, decodeURIComponent(arg));
      return { render: () => servicesPage(control, st) };
    case "map":
      return { render: () => mapPage(st) };
    case "plugins":
      // The call counters are not stored objects (no events): read them
      // when the page opens.
      void st.loadPlugins().then(() => st.changed(), () => undefined);
      return { render: () => pluginsPage(st) };
    default:
      return { render: () => clusterPage(st) };
  }
}

function statusLine(st: ClusterState): HTMLElement {
  const text = st.live ? "live" : st.problem ? `not live: ${st.problem}` : "connecting";
  return h("span", { id: "live", class: st.live ? "on" : "off" }, text);
}

function start(): void {
  const control = newControl(location.origin);
  const st = new ClusterState(control);
  const main = h("main", {});
  const status = h("span", { class: "status" });
  const links = nav.map(([href, text]) => h("a", { href }, text));
  document.body.replaceChildren(
    h("header", {}, h("h1", {}, "shoal"), h("nav", {}, links), status),
    h("p", { id: "action-error", class: "error" }),
    main);
  let page = route(control, st, location.hash);
  let queued = false;
  const render = () => {
    queued = false;
    status.replaceChildren(statusLine(st));
    links.forEach((a) => a.classList.toggle("current", location.hash.startsWith(a.getAttribute("href") ?? "")));
    main.replaceChildren(page.render());
  };
  const schedule = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(render);
  };
  window.addEventListener("hashchange", () => {
    page.dispose?.();
    page = route(control, st, location.hash);
    schedule();
  });
  st.onChange(schedule);
  schedule();
  void follow(control, st, new AbortController().signal);
}

start();
