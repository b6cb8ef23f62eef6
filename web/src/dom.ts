// A small element builder: the view is plain DOM, rebuilt per render.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// table builds a table with a header row; rows are built by the caller.
export function table(headers: string[], rows: HTMLTableRowElement[], empty = "none"): HTMLElement {
  const body = rows.length ? rows : [h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, empty))];
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, body));
}

export function link(hash: string, text: string): HTMLAnchorElement {
  return h("a", { href: hash }, text);
}
