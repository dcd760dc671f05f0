// What a person sees of codever's HTML pages, in a real browser (Debian's Chromium, driven by
// playwright-core): the compare page written by `codever diff --html`, and `codever ui`.
//
// Needs CODEVER (the codever binary; default ../target/debug/codever) and CHROMIUM (default
// /usr/bin/chromium). SCREENSHOTS=DIR also writes the compare page's screenshots (light, dark)
// there; BENCH=FILE writes the browser timings as JSON. scripts/ui-tests.sh sets all this up.
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const { spawn, execFileSync } = require("node:child_process");
const { chromium } = require("playwright-core");

const ROOT = path.resolve(__dirname, "..", "..");
const CODEVER = process.env.CODEVER || path.join(ROOT, "target", "debug", "codever");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "codever-ui-"));
const store = path.join(work, ".codever");
let browser, server, base, port;
const timings = {};

function cv(args, opts = {}) {
  return execFileSync(CODEVER, ["--store", store, ...args], { encoding: "utf8", ...opts });
}

function write(rel, text) {
  const p = path.join(work, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
}

// The demo's store (scripts/demo.sh): four runs of fixtures/safelife logging ppo, dqn,
// model_code and the whole repo; plus an artifact with hostile names and contents, and one file
// with 10,000 changed lines.
function makeStore() {
  cv(["init", work]);
  for (const step of ["baseline", "ppo-lr", "layernorm", "tuned"]) {
    const repo = path.join(ROOT, "fixtures", "safelife", step);
    const env = { ...process.env, CODEVER_RUN_ID: `run-${step}` };
    const o = { cwd: repo, env };
    cv(["commit", "ppo", "--type", "rl_algo_code", "training/ppo.py"], o);
    cv(["commit", "dqn", "--type", "rl_algo_code", "training/dqn.py"], o);
    cv(["commit", "model_code", "--type", "model_code", "training/models.py=models.py"], o);
    cv(["commit", "safelife", "--type", "code", ".", "-m", `whole repo, step ${step}`], o);
  }
  const evil = path.join(work, "evil");
  write("evil/\"><img src=x onerror=alert(1)>.py", "x = 1\n");
  write("evil/x.py", "s = '</script><script>alert(2)</script>'\n");
  cv(["commit", "evil", "--type", "code", evil, "--run", "run-evil-1"]);
  write("evil/\"><img src=x onerror=alert(1)>.py", "x = 2\n");
  write("evil/x.py", "s = '</script><script>alert(3)</script>'\n");
  cv(["commit", "evil", "--type", "code", evil, "--run", "run-evil-2"]);
  // 40 small files changed at line 20, and one whose diff is large (2,400 lines): a compare
  // the server sends a few files of, the page fetching the rest.
  const many = (rev) => {
    for (let f = 0; f < 40; f++) {
      const name = `many/f${String(f).padStart(2, "0")}.py`;
      write(name, Array.from({ length: 40 }, (_, i) => i === 19 && rev ? `x${i} = ${f} + 1\n` : `x${i} = ${f}\n`).join(""));
    }
    write("many/zz_large.py", Array.from({ length: 1200 }, (_, i) => `big_${i} = ${rev}\n`).join(""));
    cv(["commit", "many", "--type", "code", path.join(work, "many"), "--run", `run-many-${rev}`]);
  };
  many(0);
  many(1);
  // A file edited, renamed, edited again: its history follows it.
  const hist = (i) => `step_${i} = ${i}\n`;
  const body = (edit) => Array.from({ length: 30 }, (_, i) => (edit[i] ?? hist(i))).join("");
  write("hist/a.py", body({}));
  cv(["commit", "hist", "--type", "code", path.join(work, "hist"), "--run", "run-hist-0", "-m", "first"]);
  write("hist/a.py", body({ 4: "step_4 = 40\n" }));
  cv(["commit", "hist", "--type", "code", path.join(work, "hist"), "--run", "run-hist-1", "-m", "tune step 4"]);
  fs.renameSync(path.join(work, "hist/a.py"), path.join(work, "hist/b.py"));
  cv(["commit", "hist", "--type", "code", path.join(work, "hist"), "--run", "run-hist-2", "-m", "rename"]);
  write("hist/b.py", body({ 4: "step_4 = 40\n", 24: "step_24 = 240\n" }));
  cv(["commit", "hist", "--type", "code", path.join(work, "hist"), "--run", "run-hist-3", "-m", "tune step 24"]);
  // 1,002 changed files: more than one compare page lists (1,000).
  const wide = (rev) => {
    for (let f = 0; f < 1002; f++) write(`wide/w${String(f).padStart(4, "0")}.py`, `w = ${f + rev}\n`);
    cv(["commit", "wide", "--type", "code", path.join(work, "wide"), "--run", `run-wide-${rev}`]);
  };
  wide(0);
  wide(1);
  const lines = (f) => Array.from({ length: 10000 }, (_, i) => f(i)).join("");
  write("big/gen.py", lines((i) => `value_${i} = compute(${i}, "old")\n`));
  cv(["commit", "big", "--type", "code", path.join(work, "big"), "--run", "run-big-1"]);
  write("big/gen.py", lines((i) => `value_${i} = compute(${i}, "new")\n`));
  cv(["commit", "big", "--type", "code", path.join(work, "big"), "--run", "run-big-2"]);
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(CODEVER, ["--store", store, "ui"], { stdio: ["ignore", "pipe", "inherit"] });
    server.on("error", reject);
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:(\d+)\/)\n/);
      if (m) { base = m[1]; port = Number(m[2]); resolve(); }
    });
  });
}

function chromiumArgs(extra = []) {
  return ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extra];
}

async function launch(extra = []) {
  // A fresh profile for every browser: nothing remembered from an earlier run.
  const profile = fs.mkdtempSync(path.join(work, "profile-"));
  // playwright-core passes the profile as --user-data-dir and adds the pipe it drives Chromium
  // through (--remote-debugging-pipe) to these flags.
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, timeout: 30000,
    args: chromiumArgs(extra),
    viewport: { width: 1280, height: 900 },
  });
}

// A page that fails the test on any dialog (an executed alert()) or any request that leaves
// file:// or the local server.
async function openPage(ctx) {
  const page = await ctx.newPage();
  page.on("dialog", (d) => { throw new Error(`a dialog opened: ${d.message()}`); });
  page.on("request", (r) => {
    const u = r.url();
    if (!(u.startsWith("file://") || u.startsWith("http://127.0.0.1:") || u.startsWith("http://localhost:") || u.startsWith("http://rebind.test:") || u === "about:blank")) {
      throw new Error(`external request: ${u}`);
    }
  });
  return page;
}

function html(name, args) {
  const file = path.join(work, name);
  cv(["diff", ...args, `--html=${file}`], { stdio: ["ignore", "pipe", "pipe"] });
  return "file://" + file;
}

before(async () => {
  makeStore();
  await startServer();
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill();
  if (process.env.BENCH) fs.writeFileSync(process.env.BENCH, JSON.stringify(timings, null, 2) + "\n");
  fs.rmSync(work, { recursive: true, force: true });
});

test("compare page: file names, counts and the changed words", async () => {
  const page = await openPage(browser);
  await page.goto(html("ppo.html", ["ppo:v0", "ppo:v1"]));
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "1 file changed");
  assert.equal(await page.locator(".cdv-summary .cdv-plus").innerText(), "+2");
  assert.equal(await page.locator(".cdv-summary .cdv-minus").innerText(), "−2");
  assert.deepEqual(await page.locator(".cdv-tree li a").allInnerTexts(), ["ppo.py"]);
  assert.equal(await page.locator(".cdv-file .cdv-path").innerText(), "ppo.py");
  // The words that changed inside the changed lines, as highlighted.
  assert.deepEqual(await page.locator("table.cdv-u tr.cdv-d mark").allInnerTexts(), ["3e", "4", "2"]);
  assert.deepEqual(await page.locator("table.cdv-u tr.cdv-a mark").allInnerTexts(), ["1e", "3", "1"]);
  const added = page.locator("table.cdv-u tr.cdv-a").first();
  assert.equal((await added.locator(".cdv-code").innerText()).trim(), "learning_rate = 1e-3");
  assert.equal(await added.locator("td.cdv-n").nth(1).getAttribute("data-n"), "5");
  // A file folds and unfolds from its header.
  await page.locator(".cdv-fold").click();
  assert.equal(await page.locator("table.cdv-u").isVisible(), false);
  await page.locator(".cdv-fold").click();
  assert.equal(await page.locator("table.cdv-u").isVisible(), true);
  // Coloured: the mark is green on an added line, not the page's background.
  const bg = await page.locator("tr.cdv-a mark").first().evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.equal(bg, "rgb(126, 231, 154)");
  await page.close();
});

test("compare page: split view toggled, remembered after reload", async () => {
  const ctx = await launch();
  const page = await openPage(ctx);
  const url = html("split.html", ["code/safelife:v0", "code/safelife:v3"]);
  await page.goto(url);
  assert.equal(await page.locator("table.cdv-u").first().isVisible(), true);
  assert.equal(await page.locator("table.cdv-s").count(), 0);
  await page.getByRole("button", { name: "Split" }).click();
  assert.equal(await page.locator("table.cdv-u").first().isVisible(), false);
  assert.equal(await page.locator("table.cdv-s").count(), 3);
  // dqn.py: the deleted and the added line side by side, in one row.
  const row = page.locator(".cdv-file").first().locator("table.cdv-s tr.cdv-l", { has: page.locator("mark") });
  assert.equal(await row.count(), 1);
  assert.deepEqual(await row.locator("td.cdv-n").evaluateAll((ns) => ns.map((n) => n.dataset.n)), ["7", "7"]);
  assert.deepEqual(await row.locator("mark").allInnerTexts(), ["1", "05"]);
  await page.reload();
  assert.equal(await page.locator(".cdv").getAttribute("data-view"), "split");
  assert.equal(await page.locator("table.cdv-s").first().isVisible(), true);
  assert.equal(await page.getByRole("button", { name: "Split" }).getAttribute("aria-pressed"), "true");
  await page.getByRole("button", { name: "Unified" }).click();
  await page.reload();
  assert.equal(await page.locator(".cdv").getAttribute("data-view"), "unified");
  await ctx.close();
});

test("compare page: collapsed unchanged lines expanded by a click", async () => {
  const page = await openPage(browser);
  await page.goto(html("expand.html", ["ppo:v0", "ppo:v1"]));
  const rows = page.locator("table.cdv-u tr.cdv-l");
  const firstNumber = () => page.locator("table.cdv-u tr.cdv-l td.cdv-n").first().getAttribute("data-n");
  assert.equal(await rows.count(), 11);
  assert.equal(await firstNumber(), "2");
  // The line above the hunk.
  await page.locator('tr.cdv-h[data-gap="0"] button[data-dir="up"]').click();
  assert.equal(await rows.count(), 12);
  assert.equal(await firstNumber(), "1");
  assert.equal(await page.locator("table.cdv-u tr.cdv-l").first().locator(".cdv-code").innerText(), "import torch");
  assert.equal(await page.locator('tr.cdv-h[data-gap="0"] button').count(), 0);
  // The 12 lines below it, all at once.
  const all = page.locator('tr.cdv-h[data-gap="1"] button[data-dir="all"]');
  assert.equal(await all.innerText(), "↕ 12");
  await all.click();
  assert.equal(await rows.count(), 24);
  const last = page.locator("table.cdv-u tr.cdv-l").last();
  assert.equal(await last.locator("td.cdv-n").first().getAttribute("data-n"), "22");
  assert.match(await last.locator(".cdv-code").innerText(), /pass {2}# rollout and update elided/);
  await page.close();
});

test("compare page: hostile names and contents are shown as text", async () => {
  const page = await openPage(browser);
  await page.goto(html("evil.html", ["code/evil:v0", "code/evil:v1"]));
  assert.equal(await page.locator("img").count(), 0);
  assert.equal(await page.locator("script").count(), 1);
  const paths = await page.locator(".cdv-file .cdv-path").allInnerTexts();
  assert.deepEqual(paths, ['"><img src=x onerror=alert(1)>.py', "x.py"]);
  const line = page.locator(".cdv-file").nth(1).locator("tr.cdv-a .cdv-code");
  assert.equal(await line.innerText(), "s = '</script><script>alert(3)</script>'");
  // The tree's link goes to the file by its name.
  await page.locator(".cdv-tree a").first().click();
  assert.equal(decodeURIComponent(new URL(page.url()).hash.slice(1)), '"><img src=x onerror=alert(1)>.py');
  assert.equal(await page.locator(".cdv-file.cdv-current .cdv-path").innerText(), '"><img src=x onerror=alert(1)>.py');
  await page.close();
});

test("ui: a compare picked from the versions timeline; back returns", async () => {
  const page = await openPage(browser);
  await page.goto(base);
  await page.getByRole("link", { name: "safelife" }).click();
  assert.equal(await page.locator("h1").innerText(), "code/safelife");
  assert.equal(await page.locator("table.cdv-versions tbody tr").count(), 4);
  const go = page.getByRole("button", { name: "Compare" });
  assert.equal(await go.isDisabled(), true);
  await page.getByLabel("pick code/safelife:v3").check();
  await page.getByLabel("pick code/safelife:v0").check();
  assert.equal(await go.isDisabled(), false);
  await go.click();
  await page.waitForURL(/\/compare\//);
  assert.equal(new URL(page.url()).pathname, "/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3");
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "3 files changed");
  assert.deepEqual(await page.locator(".cdv-tree li a").allInnerTexts(),
    ["training/dqn.py", "training/models.py", "training/utils.py"]);
  // The unchanged lines below dqn.py's hunk, fetched from the server by a click.
  const dqn = page.locator(".cdv-file").first();
  const before = await dqn.locator("table.cdv-u tr.cdv-l").count();
  await dqn.locator("tr.cdv-tail button[data-dir=\"all\"]").click();
  await dqn.locator("tr.cdv-tail").waitFor({ state: "detached" });
  assert.equal(await dqn.locator("table.cdv-u tr.cdv-l").count(), before + 7);
  assert.match(await dqn.locator("table.cdv-u tr.cdv-l").last().locator(".cdv-code").innerText(), /\S/);
  // Shareable: the URL with a file opens at that file.
  await page.goto(page.url() + "#training/models.py");
  assert.equal(await page.locator(".cdv-file.cdv-current").getAttribute("data-path"), "training/models.py");
  // Next file with `j`.
  await page.keyboard.press("j");
  assert.equal(await page.locator(".cdv-file.cdv-current").getAttribute("data-path"), "training/utils.py");
  await page.goBack();
  await page.goBack();
  assert.equal(await page.locator("h1").innerText(), "code/safelife");
  await page.close();
});

test("ui: blame lines link to the version and the run that wrote them", async () => {
  const page = await openPage(browser);
  await page.goto(`${base}blame?spec=code%2Fsafelife%3Av2&path=training%2Fppo.py`);
  const line5 = page.locator("tr.cdv-bl").nth(4);
  assert.equal(await line5.getAttribute("data-version"), "v1");
  assert.equal(await line5.locator(".cdv-br").innerText(), "run-ppo-lr");
  assert.match(await line5.locator(".cdv-code").innerText(), /learning_rate = 1e-3/);
  await line5.locator(".cdv-br").click();
  await page.waitForURL(/\/run\//);
  assert.equal(await page.locator("h1").innerText(), "Run run-ppo-lr");
  assert.match(await page.locator("table.cdv-logged").innerText(), /code\/safelife\s+v1\s+new/);
  await page.goBack();
  await line5.locator(".cdv-bv").click();
  await page.waitForURL(/\/version\//);
  assert.match(await page.locator("h1").innerText(), /code\/safelife v1/);
  await page.close();
});

test("compare page: j/n and k/p go to the next and previous file", async () => {
  const page = await openPage(browser);
  await page.goto(html("keys.html", ["code/safelife:v0", "code/safelife:v3"]));
  const current = () => page.locator(".cdv-file.cdv-current").getAttribute("data-path");
  const top = () => page.locator(".cdv-file.cdv-current").evaluate((e) => Math.round(e.getBoundingClientRect().top));
  assert.equal(await page.locator(".cdv-file.cdv-current").count(), 0);
  // From the top of the page, the first file; then the next ones, scrolled to the top.
  await page.keyboard.press("j");
  assert.equal(await current(), "training/dqn.py");
  await page.keyboard.press("j");
  assert.equal(await current(), "training/models.py");
  const t = await top();
  assert.ok(t >= 0 && t < 900, `in view: ${t}`);
  await page.keyboard.press("n");
  assert.equal(await current(), "training/utils.py");
  // The last file stays the last.
  await page.keyboard.press("j");
  assert.equal(await current(), "training/utils.py");
  await page.keyboard.press("k");
  assert.equal(await current(), "training/models.py");
  await page.keyboard.press("p");
  assert.equal(await current(), "training/dqn.py");
  await page.keyboard.press("k");
  assert.equal(await current(), "training/dqn.py");
  assert.equal(await page.locator(".cdv-file.cdv-current").count(), 1);
  // A folded file unfolds when it is gone to; a key with Ctrl is the browser's, not ours.
  await page.locator(".cdv-file").nth(1).locator(".cdv-fold").click();
  assert.equal(await page.locator(".cdv-file").nth(1).locator("table.cdv-u").isVisible(), false);
  await page.keyboard.press("Control+j");
  assert.equal(await current(), "training/dqn.py");
  await page.keyboard.press("j");
  assert.equal(await current(), "training/models.py");
  assert.equal(await page.locator(".cdv-file").nth(1).locator("table.cdv-u").isVisible(), true);
  await page.close();
});

test("ui: two runs picked from the runs page, their compare, and back", async () => {
  const page = await openPage(browser);
  await page.goto(base);
  await page.getByRole("link", { name: "Runs" }).click();
  await page.waitForURL(/\/runs$/);
  const go = page.getByRole("button", { name: "Compare" });
  assert.equal(await go.isDisabled(), true);
  // Picked newest first; the compare goes from the older to the newer run.
  await page.getByLabel("pick run-tuned").check();
  assert.equal(await go.isDisabled(), true);
  await page.getByLabel("pick run-baseline").check();
  assert.deepEqual(await page.locator("tr.cdv-picked").evaluateAll((rs) => rs.map((r) => r.dataset.run)),
    ["run-tuned", "run-baseline"]);
  await go.click();
  await page.waitForURL(/\/compare-runs\//);
  assert.equal(new URL(page.url()).pathname, "/compare-runs/run-baseline...run-tuned");
  // Which artifacts changed comes first, then the files.
  const order = await page.locator(".cdv > *").evaluateAll((es) => es.map((e) => e.className.split(" ")[0]));
  assert.ok(order.indexOf("cdv-arts") < order.indexOf("cdv-tree"), order.join(" "));
  const arts = await page.locator("table.cdv-arts tbody tr").evaluateAll((rs) =>
    rs.map((r) => [r.cells[0].textContent, r.cells[1].textContent, r.cells[2].textContent, r.dataset.state]));
  assert.deepEqual(arts, [
    ["code/safelife", "v0", "v3", "changed"],
    ["model_code/model_code", "v0", "v1", "changed"],
    ["rl_algo_code/dqn", "v0", "v1", "changed"],
    ["rl_algo_code/ppo", "v0", "v0", "same"], // tuned went back to the baseline's ppo.py
  ]);
  assert.deepEqual(await page.locator(".cdv-tree li a").allInnerTexts(), [
    "code/safelife/training/dqn.py", "code/safelife/training/models.py", "code/safelife/training/utils.py",
    "model_code/model_code/models.py", "rl_algo_code/dqn/dqn.py"]);
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "5 files changed");
  await page.goBack();
  await page.waitForURL(/\/runs$/);
  assert.equal(await page.locator("h1").innerText(), "Runs");
  // What is ticked and the button agree after the way back.
  const ticked = await page.locator("input.cdv-pick:checked").count();
  assert.equal(await go.isDisabled(), ticked !== 2);
  await page.goBack();
  assert.equal(await page.locator("h1").innerText(), "Artifacts");
  await page.close();
});

test("ui: later files load as they come into view, a large one by its button", async () => {
  const page = await openPage(browser);
  await page.goto(`${base}compare/code%2Fmany%3Av0...code%2Fmany%3Av1`);
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "41 files changed");
  const file = (i) => page.locator(".cdv-file").nth(i);
  // The server sent the first 5 files; the others are fetched by the page.
  assert.equal(await file(4).locator("table.cdv-u tr.cdv-l").count(), 8);
  assert.equal(await page.locator("[data-src]").count(), 36);
  await page.waitForLoadState("networkidle");
  const last = file(39);
  assert.equal(await last.getAttribute("data-path"), "f39.py");
  assert.equal(await last.locator(".cdv-lazy").count(), 1, "far below: not loaded yet");
  assert.equal(await last.locator("table").count(), 0);
  await last.scrollIntoViewIfNeeded();
  await last.locator("table.cdv-u tr.cdv-l").first().waitFor();
  const rows = last.locator("table.cdv-u tr.cdv-l");
  assert.equal(await rows.count(), 8);
  const added = last.locator("tr.cdv-a");
  assert.equal(await added.locator(".cdv-code").innerText(), "x19 = 39 + 1");
  assert.equal(await added.locator("td.cdv-n").nth(1).getAttribute("data-n"), "20");
  // Its unchanged lines come from the server too.
  await last.locator('tr.cdv-h[data-gap="0"] button[data-dir="all"]').click();
  await last.locator('tr.cdv-h[data-gap="0"] button').first().waitFor({ state: "detached" });
  assert.equal(await rows.count(), 8 + 16);
  assert.equal(await rows.first().locator(".cdv-code").innerText(), "x0 = 39");
  // The large file waits for its button, whatever is on screen.
  const large = file(40);
  await large.scrollIntoViewIfNeeded();
  await page.waitForLoadState("networkidle");
  assert.equal(await large.locator("table").count(), 0);
  const btn = large.getByRole("button", { name: "Load diff (2,400 lines)" });
  await btn.click();
  await large.locator("table.cdv-u:not([data-loading])").waitFor();
  assert.equal(await large.locator("table.cdv-u tr.cdv-l").count(), 2400);
  assert.equal(await large.locator("tr.cdv-a").last().locator(".cdv-code").innerText(), "big_1199 = 1");
  // `j` and `k` reach the files loaded later, scrolled to the top, and load them.
  await page.evaluate(() => window.scrollTo(0, 0));
  for (let i = 0; i < 30; i++) await page.keyboard.press("j");
  const cur = page.locator(".cdv-file.cdv-current");
  assert.equal(await cur.getAttribute("data-path"), "f29.py");
  assert.equal(await cur.evaluate((e) => Math.abs(Math.round(e.getBoundingClientRect().top))), 0);
  await cur.locator("table.cdv-u tr.cdv-l").first().waitFor();
  assert.equal(await cur.locator("table.cdv-u tr.cdv-l").count(), 8);
  await page.keyboard.press("k");
  assert.equal(await cur.getAttribute("data-path"), "f28.py");
  // In the split view, a file loaded later gets its split table too.
  await page.getByRole("button", { name: "Split" }).click();
  await file(20).scrollIntoViewIfNeeded();
  await file(20).locator("table.cdv-s tr.cdv-l").first().waitFor();
  assert.equal(await file(20).locator("table.cdv-s tr.cdv-l").count(), 7);
  await page.getByRole("button", { name: "Unified" }).click();
  await page.close();
});

test("ui: a page whose `latest` moved since it loaded says to reload, not mixing two diffs", async () => {
  const lines = (edits) => Array.from({ length: 100 }, (_, i) => edits[i + 1] ?? `line ${i + 1}`).join("\n") + "\n";
  const dir = path.join(work, "moving");
  const commit = (edits, run) => {
    write("moving/f.py", lines(edits));
    cv(["commit", "moving", "--type", "code", dir, "--run", run]);
  };
  commit({}, "run-moving-0");
  commit({ 50: "line 50 v1" }, "run-moving-1");
  const page = await openPage(browser);
  await page.goto(`${base}compare/code%2Fmoving%3Av0...code%2Fmoving%3Alatest`);
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "1 file changed");
  // v2 changes line 80, in this page's hidden tail; the server then makes other compares, so it
  // no longer holds the diff this page shows.
  commit({ 50: "line 50 v1", 80: "line 80 v2" }, "run-moving-2");
  for (const c of ["code%2Fhist%3Av0...code%2Fhist%3Av1", "code%2Fhist%3Av1...code%2Fhist%3Av2",
    "code%2Fhist%3Av2...code%2Fhist%3Av3", "code%2Fhist%3Av0...code%2Fhist%3Av3",
    "code%2Fmoving%3Av0...code%2Fmoving%3Alatest"]) {
    assert.equal((await page.request.get(`${base}compare/${c}`)).status(), 200);
  }
  const rows = page.locator("table.cdv-u tr.cdv-l");
  const before = await rows.count();
  const tail = page.locator("tr.cdv-h.cdv-tail");
  await tail.locator('button[data-dir="all"]').click();
  await tail.locator(".cdv-hh", { hasText: "Could not load" }).waitFor();
  assert.equal(await tail.locator(".cdv-hh").innerText(),
    "Could not load: this compare changed since the page was loaded (a spec such as `latest` names another version now, or a run logged more): reload the page");
  assert.equal(await rows.count(), before, "no line of the newer diff laid into this page");
  await page.reload();
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "1 file changed");
  assert.match(await page.locator(".cdv-file").innerText(), /line 80 v2/);
  await page.close();
});

test("ui: a compare of more files than a page lists pages through them, and back", async () => {
  const page = await openPage(browser);
  const first = `${base}compare/code%2Fwide%3Av0...code%2Fwide%3Av1`;
  await page.goto(first);
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "1,002 files changed");
  const note = page.locator("p.cdv-more").first();
  assert.match(await note.innerText(), /^This compare changes 1,002 files: this page shows files 1–1,000\. next 2 files → All of them in a terminal: codever diff code\/wide:v0 code\/wide:v1 --stat$/);
  assert.equal(await page.locator(".cdv-file").count(), 1000);
  assert.equal(await page.locator("p.cdv-more").count(), 2, "above the files and below them");
  await note.getByRole("link", { name: "next 2 files →" }).click();
  await page.waitForURL(`${first}?from=1000`);
  assert.equal(await page.locator(".cdv-file").count(), 2);
  assert.deepEqual(await page.locator(".cdv-file").evaluateAll((fs) => fs.map((f) => f.getAttribute("data-path"))), ["w1000.py", "w1001.py"]);
  assert.match(await page.locator("p.cdv-more").first().innerText(), /this page shows files 1,001–1,002\. ← previous files All of them/);
  const added = page.locator(".cdv-file").nth(1).locator("tr.cdv-a .cdv-code");
  assert.equal(await added.innerText(), "w = 1002");
  await page.goBack();
  await page.waitForURL(first);
  assert.equal(await page.locator(".cdv-file").count(), 1000);
  await page.goForward();
  await page.locator("p.cdv-more").first().getByRole("link", { name: "← previous files" }).click();
  await page.waitForURL(`${first}?from=0`);
  assert.equal(await page.locator(".cdv-file").first().getAttribute("data-path"), "w0000.py");
  await page.close();
});

test("ui: a file's history follows its rename, and its links", async () => {
  const page = await openPage(browser);
  await page.goto(`${base}version/code%2Fhist%3Av3`);
  await page.getByRole("row", { name: /b\.py/ }).getByRole("link", { name: "history" }).click();
  await page.waitForURL(/\/history\?/);
  const rows = page.locator("table.cdv-history tbody tr");
  const cells = await rows.evaluateAll((rs) => rs.map((r) => [0, 1, 2, 5].map((i) => r.cells[i].innerText.trim())));
  assert.deepEqual(cells, [
    ["v3", "modified +1 −1", "b.py", "tune step 24"],
    ["v2", "renamed 100% +0 −0", "b.py", "rename"],
    ["v1", "modified +1 −1", "a.py", "tune step 4"],
    ["v0", "added +30 −0", "a.py", "first"],
  ]);
  assert.equal(await rows.nth(3).locator("td").nth(1).locator("a").count(), 0, "nothing before v0");
  // The rename opens the compare of v1 and v2 at that file.
  await rows.nth(1).getByRole("link", { name: "renamed 100%" }).click();
  await page.waitForURL(/\/compare\//);
  assert.equal(new URL(page.url()).pathname, "/compare/code%2Fhist%3Av1...code%2Fhist%3Av2");
  const cur = page.locator(".cdv-file.cdv-current");
  assert.equal(await cur.getAttribute("data-path"), "b.py");
  assert.equal(await cur.locator(".cdv-path").innerText(), "a.py → b.py");
  assert.equal(await cur.locator(".cdv-fh .cdv-st").innerText(), "renamed 100%");
  await page.goBack();
  await page.waitForURL(/\/history\?/);
  // An older version's change, at its old name.
  await rows.nth(2).getByRole("link", { name: "modified" }).click();
  await page.waitForURL(/\/compare\//);
  assert.equal(await page.locator(".cdv-file.cdv-current").getAttribute("data-path"), "a.py");
  assert.deepEqual(await page.locator(".cdv-file.cdv-current tr.cdv-a .cdv-code").allInnerTexts(), ["step_4 = 40"]);
  await page.goBack();
  // The path opens the file as it was in that version; the version, its files.
  await rows.nth(2).getByRole("link", { name: "a.py" }).click();
  await page.waitForURL(/\/file\?/);
  assert.equal(await page.locator("h1").innerText(), "code/hist:v1 / a.py");
  assert.equal(await page.locator(".cdv-src tr").nth(4).locator(".cdv-code").innerText(), "step_4 = 40");
  await page.goBack();
  await rows.nth(0).getByRole("link", { name: "v3" }).click();
  await page.waitForURL(/\/version\//);
  assert.match(await page.locator("h1").innerText(), /code\/hist v3/);
  await page.close();
});

test("ui: a request for another host name is refused (DNS rebinding)", async () => {
  // A browser that resolves rebind.test to 127.0.0.1, as a rebinding attacker's page would.
  const ctx = await launch(["--host-resolver-rules=MAP rebind.test 127.0.0.1"]);
  const page = await openPage(ctx);
  const r = await page.goto(`http://rebind.test:${port}/`);
  assert.equal(r.status(), 421);
  assert.doesNotMatch(await page.content(), /safelife/);
  const ok = await page.goto(`http://127.0.0.1:${port}/`);
  assert.equal(ok.status(), 200);
  await ctx.close();
  // And without a browser: a forged Host header is refused, `localhost` is not.
  const status = (host) => new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/", headers: { Host: host } }, (res) => {
      res.resume(); resolve(res.statusCode);
    }).on("error", reject);
  });
  assert.equal(await status("evil.example"), 421);
  assert.equal(await status(`evil.example:${port}`), 421);
  assert.equal(await status(`localhost:${port}`), 200);
});

test("ui: hostile names in the version's file list and the compare", async () => {
  const page = await openPage(browser);
  await page.goto(`${base}compare/code%2Fevil%3Av0...code%2Fevil%3Av1`);
  assert.equal(await page.locator("img").count(), 0);
  assert.deepEqual(await page.locator(".cdv-tree li a").allInnerTexts(), ['"><img src=x onerror=alert(1)>.py', "x.py"]);
  await page.goto(`${base}version/code%2Fevil%3Av1`);
  assert.equal(await page.locator("img").count(), 0);
  await page.getByRole("link", { name: "x.py", exact: true }).click();
  assert.equal(await page.locator(".cdv-src .cdv-code").innerText(), "s = '</script><script>alert(3)</script>'");
  await page.close();
});

// Timings are recorded (BENCH=FILE, BENCHMARKS.md), never asserted: a loaded machine is slow.
test("a page of 10,000 changed lines: collapsed, then all its rows, unified and split", async () => {
  const page = await openPage(browser);
  await page.goto(html("big.html", ["code/big:v0", "code/big:v1"]));
  const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0].toJSON());
  timings.big_file_dom_interactive_ms = Math.round(nav.domInteractive);
  timings.big_file_load_event_ms = Math.round(nav.loadEventEnd);
  // The file is large: collapsed behind a button. Loading it shows its first rows at once, then
  // the rest a chunk per frame (the page answers clicks meanwhile): all 20,000 rows.
  const afterPaint = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0))));
  const allRows = (sel) => page.waitForFunction((sel) => { const t = document.querySelector(sel); return t && !t.hasAttribute("data-loading"); }, sel, { polling: 50, timeout: 60000 });
  const t0 = await page.evaluate(() => performance.now());
  await page.getByRole("button", { name: /Load diff/ }).click();
  timings.big_file_load_click_to_first_rows_ms = Math.round(await afterPaint() - t0);
  assert.ok(await page.locator("table.cdv-u tr.cdv-l").first().isVisible());
  await allRows("table.cdv-u");
  timings.big_file_load_click_to_all_rows_ms = Math.round(await page.evaluate(() => performance.now()) - t0);
  assert.equal(await page.locator("table.cdv-u tr.cdv-l").count(), 20000);
  // The split view of all of it.
  const s0 = await page.evaluate(() => performance.now());
  await page.getByRole("button", { name: "Split" }).click();
  timings.big_file_split_first_rows_ms = Math.round(await afterPaint() - s0);
  await allRows("table.cdv-s");
  timings.big_file_split_all_rows_ms = Math.round(await page.evaluate(() => performance.now()) - s0);
  assert.equal(await page.locator("table.cdv-s tr.cdv-l").count(), 10000);
  await page.getByRole("button", { name: "Unified" }).click();
  // Served by codever ui too.
  await page.goto(`${base}compare/code%2Fbig%3Av0...code%2Fbig%3Av1`);
  const nav2 = await page.evaluate(() => performance.getEntriesByType("navigation")[0].toJSON());
  // The server's time (rendering; a debug build in CI) is up to responseEnd; the browser's own
  // time from there to interactive is what the page costs.
  timings.big_file_served_response_end_ms = Math.round(nav2.responseEnd);
  timings.big_file_served_dom_interactive_ms = Math.round(nav2.domInteractive);
  timings.big_file_served_browser_ms = Math.round(nav2.domInteractive - nav2.responseStart);
  assert.equal(await page.locator(".cdv-nfiles").innerText(), "1 file changed");
  await page.close();
});

test("screenshots of the compare page, light and dark", { skip: !process.env.SCREENSHOTS }, async () => {
  const dir = process.env.SCREENSHOTS;
  const page = await openPage(browser);
  await page.goto(html("shot.html", ["--runs", "run-baseline", "run-tuned"]));
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(dir, `compare-${scheme}.png`) });
  }
  await page.close();
});
