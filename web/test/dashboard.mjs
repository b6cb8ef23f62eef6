// The dashboard's browser test: Playwright (playwright-core) drives Debian's
// chromium against `shoal dashboard` on a real cluster, which
// e2e/dashboard_test.go starts and describes in the environment:
//
//   DASHBOARD_URL  the dashboard's http://127.0.0.1:PORT/
//   SHOAL_BIN      the shoal binary; SHOAL_DATA_DIR a manager's data dir
//   SHOAL_NODES    the hostnames of every node, comma-separated
//   SHOAL_WORKER   the worker whose task is killed
//   SHOAL_MARK     a string put in the test service's command (the Go test
//                  reaps the processes that carry it)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//
// It exits non-zero on the first failed check and logs what it measured.
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set (e2e/dashboard_test.go sets it)`);
  return v;
};
const url = env("DASHBOARD_URL");
const bin = env("SHOAL_BIN");
const dataDir = env("SHOAL_DATA_DIR");
const nodes = env("SHOAL_NODES").split(",");
const worker = env("SHOAL_WORKER");
const mark = env("SHOAL_MARK");
const svc = "webtest";
const timeout = 60_000; // bounds failures only; CI is a noisy 2-core machine

function shoal(...args) {
  return execFileSync(bin, ["--data-dir", dataDir, ...args], { encoding: "utf8", timeout: 60_000 });
}

const t0 = Date.now();
function log(msg) {
  console.log(`dashboard.mjs: +${((Date.now() - t0) / 1000).toFixed(1)}s ${msg}`);
}

// until retries f (a CLI check) until it returns a value.
async function until(what, f) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function serviceReplicas() {
  const out = JSON.parse(shoal("service", "ls", "--format", "json"));
  const list = Array.isArray(out) ? out : out.services ?? [];
  const s = list.find((x) => (x.spec?.name ?? x.name) === svc);
  return s ? Number(s.spec?.replicated?.replicas ?? 0) : undefined;
}

async function nodesPageListsEveryNode(page) {
  await page.goto(url + "#/nodes");
  for (const n of nodes) await page.locator(`#nodes tr[data-node="${n}"]`).waitFor({ timeout });
  await page.locator("#live.on").waitFor({ timeout });
  log(`nodes page lists ${nodes.join(", ")}; the event stream is live`);
}

async function createdServiceAppears(page) {
  await page.goto(url + "#/services");
  await page.locator("#live.on").waitFor({ timeout });
  const start = Date.now();
  shoal("service", "create", "--name", svc, "--detach", "--process", "--", "sh", "-c", "while :; do echo tick; sleep 1; done", mark);
  const created = Date.now();
  await page.locator(`#services tr[data-service="${svc}"]`).waitFor({ timeout: 2000 });
  log(`service ${svc} on the page ${Date.now() - created} ms after the CLI returned (${Date.now() - start} ms after it started), no reload`);
}

async function scaleFromThePage(page) {
  await page.locator(`#services tr[data-service="${svc}"] button.scale`).click();
  await page.locator("#scale-replicas").fill("-1");
  await page.locator("#confirm-ok").click();
  await page.locator("#confirm .error", { hasText: "replicas: a whole number" }).waitFor({ timeout });
  await page.locator("#scale-replicas").fill("2");
  await page.locator("#confirm-ok").click();
  await until("service ls shows 2 replicas", () => serviceReplicas() === 2);
  log("service ls shows 2 replicas");
  await page.locator(`#services tr[data-service="${svc}"] td.replicas`, { hasText: "2/2" }).waitFor({ timeout });
  log("scaled to 2 from the page (after it refused -1): service ls shows 2 replicas, the page 2/2 running");
}

async function killedTaskShowsLive(page) {
  await page.locator(`#services tr[data-service="${svc}"] a`).click();
  const tasks = JSON.parse(shoal("service", "ps", svc, "--format", "json"));
  const list = Array.isArray(tasks) ? tasks : tasks.tasks ?? [];
  const ws = JSON.parse(shoal("node", "inspect", worker, "--format", "json"));
  const workerId = (Array.isArray(ws) ? ws[0] : ws.node ?? ws).id;
  const t = list.find((x) => x.nodeId === workerId && x.status?.state === "TASK_STATE_RUNNING" && x.status?.pid);
  if (!t) throw new Error(`no running task of ${svc} with a pid on ${worker}: ${JSON.stringify(list)}`);
  const row = page.locator(`#service tr[data-task="${t.id}"]`);
  await row.locator("td.state", { hasText: "running" }).waitFor({ timeout });
  process.kill(t.status.pid, "SIGKILL");
  const killed = Date.now();
  await row.locator("td.state", { hasText: /failed|complete|shutdown/ }).waitFor({ timeout });
  const state = await row.locator("td.state").textContent();
  log(`task ${t.id} on ${worker} killed (pid ${t.status.pid}): the page shows it ${state} ${Date.now() - killed} ms later`);
}

function availabilityOf(host) {
  const out = JSON.parse(shoal("node", "inspect", host, "--format", "json"));
  return (Array.isArray(out) ? out[0] : out).spec?.availability;
}

async function drainAndActivateFromThePage(page) {
  await page.goto(url + "#/nodes");
  const row = page.locator(`#nodes tr[data-node="${worker}"]`);
  for (const [button, want] of [["Drain", "drain"], ["Activate", "active"]]) {
    await row.locator("button.drain", { hasText: button }).click();
    await page.locator("#confirm-ok").click();
    await until(`node inspect ${worker} shows ${want}`, () => availabilityOf(worker) === `NODE_AVAILABILITY_${want.toUpperCase()}`);
    await row.locator("td.availability", { hasText: want }).waitFor({ timeout });
  }
  log(`${worker} drained and activated again from the page (node inspect agrees)`);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await nodesPageListsEveryNode(page);
  await createdServiceAppears(page);
  await scaleFromThePage(page);
  await killedTaskShowsLive(page);
  await drainAndActivateFromThePage(page);
  if (pageErrors.length) throw new Error(`the page threw: ${pageErrors.join("; ")}`);
  log("all 5 checks passed");
} finally {
  await browser.close();
}
