// Driven by ci/serve-browser.sh. Plain Node, playwright-core's API, axe-core
// injected into the page. Functional steps stop at the first failure; the
// layout checks (axes, labels, band, axe) report every failure, then fail.
"use strict";
const { chromium } = require("playwright-core");
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

const fail = msg => { console.error("FAIL: " + msg); process.exit(1); };
const pass = msg => console.log("ok: " + msg);
const failed = [];
const check = (ok, msg, why) => { if (ok) pass(msg); else { console.error("FAIL: " + msg + (why ? ": " + why : "")); failed.push(msg); } };
const lines = file => fs.readFileSync(file, "utf8").split("\n").filter(l => l).length;
const env = process.env;
const phoneUrl = "http://127.0.0.1:" + env.PHONE_PORT + "/";

// Every axis label of the three charts, by its text's box: none clipped (by
// the viewport or by an element that hides overflow), none overlapping
// another; every chart has a value axis (numbers from 0 up, its unit above)
// whose scale puts a bar's top at the bar's value.
async function axes(page, where) {
  const r = await page.evaluate(() => {
    const vw = document.documentElement.clientWidth, out = { bad: [], charts: {} };
    const box = e => { const g = document.createRange(); g.selectNodeContents(e); return g.getBoundingClientRect(); };
    const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
    const labels = [...document.querySelectorAll(".chart .unit, .chart .yaxis span, #dayAxis span, #monthAxis span, #yearAxis span")]
      .filter(e => !e.firstElementChild && e.textContent.trim() && e.getClientRects().length);
    const boxes = labels.map(box);
    labels.forEach((e, i) => {
      const t = boxes[i];
      if (t.left < 0 || t.right > vw) out.bad.push(`"${e.textContent}" runs out of the ${vw}-px page`);
      for (let a = e; a && a !== document.body; a = a.parentElement) {
        const s = getComputedStyle(a);
        if ((s.overflowX !== "visible" || s.overflowY !== "visible") && !inside(t, a.getBoundingClientRect()))
          out.bad.push(`"${e.textContent}" is clipped (${Math.round(t.width)} px of text in ${Math.round(a.getBoundingClientRect().width)} px)`);
      }
      for (let j = 0; j < i; j++) {
        const o = boxes[j];
        if (Math.min(t.right, o.right) - Math.max(t.left, o.left) > 0.5 && Math.min(t.bottom, o.bottom) - Math.max(t.top, o.top) > 0.5)
          out.bad.push(`"${e.textContent}" overlaps "${labels[j].textContent}"`);
      }
    });
    for (const id of ["day", "month", "year"]) {
      const chart = document.getElementById(id).closest(".chart");
      const ticks = chart ? [...chart.querySelectorAll(".yaxis span")].map(e => [Number(e.textContent), box(e)]) : [];
      const c = { unit: chart && chart.querySelector(".unit") ? chart.querySelector(".unit").textContent : null,
        values: ticks.map(t => t[0]), x: [...document.querySelectorAll(`#${id}Axis span`)].filter(e => !e.firstElementChild && e.getClientRects().length).map(e => e.textContent) };
      // The value a bar's top stands for, read off the axis.
      if (ticks.length >= 2 && id !== "day") {
        const [v0, b0] = ticks[0], [v1, b1] = ticks[ticks.length - 1], y0 = (b0.top + b0.bottom) / 2, y1 = (b1.top + b1.bottom) / 2;
        c.read = [...document.querySelectorAll(`#${id} button:not(.empty)`)].map(b => {
          const top = (b.firstElementChild || b).getBoundingClientRect().top;
          return [b.dataset.date || b.dataset.month, v0 + (top - y0) / (y1 - y0) * (v1 - v0)];
        });
      }
      out.charts[id] = c;
    }
    out.n = labels.length;
    return out;
  });
  check(r.bad.length === 0 && r.n > 0, `${where}: ${r.n} axis labels, none clipped or overlapping`, r.bad.join("; "));
  const units = { day: "W", month: "kWh", year: "kWh" };
  for (const [id, c] of Object.entries(r.charts)) {
    const v = c.values, up = v.length >= 2 && v[0] === 0 && v.every((x, i) => i === 0 || x > v[i - 1]);
    check(up && c.unit === units[id], `${where}: the ${id} chart has a value axis in ${units[id]} (${v.join(", ")})`,
      "unit " + JSON.stringify(c.unit) + ", values " + JSON.stringify(v));
  }
  return r.charts;
}

// The kWh of the bars, as the axis reads them, against the API's.
async function barsMatch(page, where, charts, days) {
  const read = (charts.month && charts.month.read) || [];
  const bad = read.filter(([d, k]) => days[d] == null || Math.abs(k - days[d]) > Math.max(0.02 * days[d], 0.05));
  check(read.length > 0 && bad.length === 0, `${where}: the month's bars read ${read.map(([d, k]) => d.slice(8) + "=" + k.toFixed(1)).join(" ")} kWh on their axis`,
    "API " + JSON.stringify(days));
}

async function axe(page, where) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const v = await page.evaluate(async () => (await window.axe.run(document)).violations
    .map(x => x.id + " (" + x.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ") + ")"));
  check(v.length === 0, `${where}: axe-core reports no violation`, v.join("; "));
}

// The curve's colour on the day canvas, in CSS px: its area and its width.
// A few samples must show as a mark, not as a hairline.
const ink = page => page.evaluate(() => {
  const c = document.getElementById("day"), hex = getComputedStyle(document.documentElement).getPropertyValue("--line").trim();
  const rgb = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const dpr = window.devicePixelRatio || 1;
  let n = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 90) {
      const x = (i / 4) % c.width; n++; lo = Math.min(lo, x); hi = Math.max(hi, x);
    }
  }
  return { area: n / dpr / dpr, wide: n ? (hi - lo + 1) / dpr : 0 };
});
const seen = i => i.area >= 12 && i.wide >= 4;
const inkSays = i => `${i.area} px² of its colour, ${i.wide} px wide`;
const text = (page, sel) => page.evaluate(s => { const e = document.querySelector(s); return e ? e.textContent : null; }, sel);
const waitText = (page, sel, re, ms) => page.waitForFunction(([s, src]) => { const e = document.querySelector(s); return e && new RegExp(src).test(e.textContent); },
  [sel, re.source], { timeout: ms || 5000 }).then(() => true, () => false);

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let serve2 = null;
  try {
    const desk = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: env.TZ });
    const page = await desk.newPage();
    const outside = [];
    const watch = p => p.on("request", r => { if (!r.url().startsWith(env.URL) && !r.url().startsWith(phoneUrl)) outside.push(r.url()); });
    watch(page);
    await page.goto(env.URL);
    const power = async () => (await page.textContent("#power")).replace(/\s*W$/, "").trim();
    await page.waitForFunction(() => /^\d+/.test(document.getElementById("power").textContent), null, { timeout: 10000 });
    const first = await power();
    let changed = null;
    for (let i = 0; i < 40 && changed === null; i++) {
      await page.waitForTimeout(500);
      const now = await power();
      if (now !== first) changed = now;
    }
    if (changed === null) fail("the live value stayed at " + first);
    pass("live value shown and changing: " + first + " W -> " + changed + " W");
    if (await page.isVisible("#band")) fail("a band is shown without CONTRACT_WATTS: " + await page.textContent("#band"));
    pass("no contract band in single-threshold mode");

    // Today's curve: one point per line of today's file (the file grows
    // every second while we look, the page by its polls: allow two).
    const today = await page.evaluate(async () => (await (await fetch("/api/now")).json()).today);
    await page.reload();
    await page.waitForFunction(() => Number(document.getElementById("day").dataset.points) > 0, null, { timeout: 10000 });
    const pts = Number(await page.getAttribute("#day", "data-points"));
    const n = lines(path.join(env.DAYS, today));
    if (Math.abs(n - pts) > 2) fail("today's curve has " + pts + " points, the day file " + n + " lines");
    pass("today's curve: " + pts + " points, day file " + n + " lines");
    // Those few seconds of samples are seen, not lost in the day's width.
    const mark = await ink(page);
    check(seen(mark), `today's ${pts} samples are visible on the curve (${inkSays(mark)})`);
    await page.waitForSelector(`#month button[data-date="${today}"]`, { timeout: 10000 });
    // "1 day", "3 days": the month's and the year's sums count their days.
    for (const [id, url, count] of [["monthSum", `/api/days?from=${today.slice(0, 7)}-01&to=${today}`, j => j.days.length],
      ["yearSum", "/api/months?year=" + today.slice(0, 4), j => j.months.reduce((s, m) => s + m.days, 0)]]) {
      const k = count(await page.evaluate(async u => (await fetch(u)).json(), url)), said = await text(page, "#" + id);
      check(new RegExp(` in ${k} day${k === 1 ? "" : "s"}( ·|$)`).test(said), `${id} counts its ${k} day(s): ${said}`);
    }
    await axes(page, "1280 px, this month");

    // The year's months: click January, its days appear.
    const year = today.slice(0, 4);
    // The simulated days (ci/serve-history.sh): d10 and d11 are the first two.
    const simDays = env.SIM_DAYS.split(" "), [d10, d11] = simDays;
    await page.click(`#year button[data-month="${year}-01"]`);
    await page.waitForFunction(y => document.querySelector(`#month button[data-date="${y}-01-31"]`), year, { timeout: 10000 });
    const full = await page.$$eval("#month button:not(.empty)", bs => bs.map(b => b.dataset.date));
    // The three simulated days, and today when CI runs in January.
    const january = [...simDays, today].filter(d => d.startsWith(`${year}-01-`)).sort();
    if (JSON.stringify(full) !== JSON.stringify(january))
      fail("January shows days " + JSON.stringify(full));
    pass("clicking January shows its days: " + full.join(", "));
    const days = Object.fromEntries((await page.evaluate(async y => (await (await fetch(`/api/days?from=${y}-01-01&to=${y}-01-31`)).json()).days, year))
      .map(d => [d.date, d.kwh]));
    const kwh11 = days[d11].toFixed(1) + " kWh";

    // A day bar: that day's full curve.
    await page.click(`#month button[data-date="${d11}"]`);
    await page.waitForFunction(d => document.getElementById("dayTitle").textContent === d, d11, { timeout: 10000 });
    const dayPts = Number(await page.getAttribute("#day", "data-points"));
    const dayLines = lines(path.join(env.DAYS, d11));
    if (dayPts !== dayLines) fail(`${d11} has ${dayPts} points, its file ${dayLines} lines`);
    pass(`clicking ${d11} shows its curve: ${dayPts} points`);

    // Keyboard: an arrow key moves focus to the next bar, whose value shows
    // and is its accessible name.
    await page.focus(`#month button[data-date="${d10}"]`);
    await page.keyboard.press("ArrowRight");
    const focused = await page.evaluate(() => document.activeElement.dataset.date);
    const name = await page.locator(":focus").ariaSnapshot().catch(() => "");
    check(focused === d11 && await waitText(page, "#monthTip", new RegExp(kwh11)) && name.includes(kwh11),
      `keyboard focus on ${focused} shows and names its kWh: ${await text(page, "#monthTip")} / ${name}`);
    // The curve takes focus too: End is the last sample, arrows move 5 min.
    await page.focus("#day");
    await page.keyboard.press("End");
    const end = await page.getAttribute("#day", "aria-valuetext");
    await page.keyboard.press("ArrowLeft");
    const left = await page.getAttribute("#day", "aria-valuetext");
    check(/^23:59:55 · \d+ W$/.test(end || "") && /^23:54:55 · \d+ W$/.test(left || "") && await text(page, "#tip") === left,
      `keyboard on the curve: End ${end}, then ArrowLeft ${left}`);
    // The mouse over the middle of the curve: the sample at noon.
    const c = await page.locator("#day").boundingBox();
    await page.mouse.move(c.x + c.width / 2, c.y + c.height / 2);
    check(await waitText(page, "#tip", /^1[12]:\d\d:\d\d · \d+ W$/), "the mouse at the curve's middle shows " + await text(page, "#tip"));
    await page.focus(`#month button[data-date="${d11}"]`);
    await barsMatch(page, "1280 px", await axes(page, "1280 px, January"), days);
    await axe(page, "1280 px");
    await page.screenshot({ path: path.join(env.OUT, "serve-page.png"), fullPage: true });

    // CONTRACT_WATTS=100, below the simulated power (140 W and up), and a
    // reload of the daemon: the band and the predicted trip appear.
    fs.appendFileSync(env.CONF, "CONTRACT_WATTS=100\n");
    process.kill(Number(env.DAEMON_PID), "SIGHUP");
    await page.waitForFunction(() => /^band over for .* · trip in ~\d+ (s|min) if nothing is switched off/.test(document.getElementById("band").textContent),
      null, { timeout: 15000 });
    pass("after CONTRACT_WATTS=100 and a reload the page shows: " + await page.textContent("#band"));

    // A phone, by touch, from a second server started after the change: it
    // has the contract's limits from its configuration.
    serve2 = spawn(env.MCCE, ["serve", "-c", env.CONF, "--listen", "127.0.0.1:" + env.PHONE_PORT], { stdio: "ignore" });
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2, timezoneId: env.TZ });
    const p2 = await phone.newPage();
    watch(p2);
    for (let i = 0; i < 50; i++) { if (await p2.goto(phoneUrl).then(() => true, () => false)) break; await p2.waitForTimeout(100); }
    await p2.waitForFunction(() => /trip in/.test(document.getElementById("band").textContent) && document.querySelector("#month button"), null, { timeout: 15000 });
    await waitText(p2, "#limits", /tolerated/);
    const band = await p2.$eval("#band", e => ({ w: [e.scrollWidth, e.clientWidth, document.documentElement.scrollWidth], font: parseFloat(getComputedStyle(e).fontSize),
      r: e.getBoundingClientRect().right, text: e.textContent }));
    check(band.w[0] <= band.w[1] && band.w[2] <= 390 && band.r <= 390, "390 px: the band line and its countdown fit the phone", band.w.join(" "));
    check(band.font >= 14, `390 px: the band reads at ${band.font} px: ${band.text}`);
    const legend = await p2.$$eval("#limits span", es => es.map(e => { const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.right, r.top, r.bottom]; }));
    const apart = legend.every((a, i) => legend.every((b, j) => j >= i || Math.min(a[2], b[2]) <= Math.max(a[1], b[1]) || Math.min(a[4], b[4]) <= Math.max(a[3], b[3])));
    check(legend.map(l => l[0]).join(" | ") === "free up to 110 W | tolerated up to 133 W" && apart && legend.every(l => l[1] >= 0 && l[2] <= 390),
      "390 px: the limit lines are named, apart, on the page: " + legend.map(l => l[0]).join(" | "));
    const mark2 = await ink(p2);
    check(seen(mark2), `390 px: today's samples are visible on the curve (${inkSays(mark2)})`);
    await axes(p2, "390 px, this month");

    // A tap on January, then on the 11th: its kWh under the chart.
    await p2.tap(`#year button[data-month="${year}-01"]`);
    await p2.waitForFunction(y => document.querySelector(`#month button[data-date="${y}-01-31"]`), year, { timeout: 10000 });
    await p2.tap(`#month button[data-date="${d11}"]`);
    const tip = await p2.$eval("#monthTip", e => { const r = e.getBoundingClientRect(); return [e.textContent, r.top >= 0 && r.bottom <= innerHeight]; }).catch(() => [null, false]);
    check(tip[0] !== null && tip[0].includes(kwh11) && tip[1], `390 px: a tap on the 11th's bar shows "${tip[0]}" in view`);
    await p2.waitForFunction(d => document.getElementById("dayTitle").textContent === d, d11, { timeout: 10000 });
    const c2 = await p2.locator("#day").boundingBox();
    await p2.tap("#day", { position: { x: c2.width / 2, y: c2.height / 2 } });
    check(await waitText(p2, "#tip", /^1[12]:\d\d:\d\d · \d+ W$/), "390 px: a tap on the curve's middle shows " + await text(p2, "#tip"));
    await barsMatch(p2, "390 px", await axes(p2, "390 px, January"), days);
    await axe(p2, "390 px");
    await p2.evaluate(() => window.scrollTo(0, 0));
    await p2.screenshot({ path: path.join(env.OUT, "serve-phone.png"), fullPage: true });
    if (outside.length) fail("requests outside the box: " + outside.join(" "));
    pass("no request left 127.0.0.1; screenshots in target/serve-page.png, target/serve-phone.png");
  } finally {
    if (serve2) serve2.kill();
    await browser.close();
  }
  if (failed.length) fail(failed.length + " check(s) failed: " + failed.join("; "));
})().catch(e => fail(e.stack || e));
