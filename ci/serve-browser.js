// Driven by ci/serve-browser.sh. Plain Node, playwright-core's API.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const fail = msg => { console.error("FAIL: " + msg); process.exit(1); };
const pass = msg => console.log("ok: " + msg);
const lines = file => fs.readFileSync(file, "utf8").split("\n").filter(l => l).length;

(async () => {
  const ctx = await chromium.launchPersistentContext(process.env.PROFILE, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    const outside = [];
    page.on("request", r => { if (!r.url().startsWith(process.env.URL)) outside.push(r.url()); });
    await page.goto(process.env.URL);
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
    const n = lines(path.join(process.env.DAYS, today));
    if (Math.abs(n - pts) > 2) fail("today's curve has " + pts + " points, the day file " + n + " lines");
    pass("today's curve: " + pts + " points, day file " + n + " lines");

    // The year's months: click January, its days appear.
    const year = today.slice(0, 4);
    await page.click(`#year button[data-month="${year}-01"]`);
    await page.waitForFunction(y => document.querySelector(`#month button[data-date="${y}-01-31"]`), year, { timeout: 10000 });
    const full = await page.$$eval("#month button:not(.empty)", bs => bs.map(b => b.dataset.date));
    if (JSON.stringify(full) !== JSON.stringify([`${year}-01-10`, `${year}-01-11`, `${year}-01-12`]))
      fail("January shows days " + JSON.stringify(full));
    pass("clicking January shows its days: " + full.join(", "));

    // A day bar: that day's full curve.
    await page.click(`#month button[data-date="${year}-01-11"]`);
    await page.waitForFunction(y => document.getElementById("dayTitle").textContent === y + "-01-11", year, { timeout: 10000 });
    const dayPts = Number(await page.getAttribute("#day", "data-points"));
    const dayLines = lines(path.join(process.env.DAYS, `${year}-01-11`));
    if (dayPts !== dayLines) fail(`${year}-01-11 has ${dayPts} points, its file ${dayLines} lines`);
    pass(`clicking ${year}-01-11 shows its curve: ${dayPts} points`);
    await page.screenshot({ path: path.join(process.env.OUT, "serve-page.png"), fullPage: true });

    // CONTRACT_WATTS=100, below the simulated power (140 W and up), and a
    // reload of the daemon: the band and the predicted trip appear.
    fs.appendFileSync(process.env.CONF, "CONTRACT_WATTS=100\n");
    process.kill(Number(process.env.DAEMON_PID), "SIGHUP");
    await page.waitForFunction(() => /^band over for .* · trip in ~\d+ (s|min) if nothing is switched off/.test(document.getElementById("band").textContent),
      null, { timeout: 15000 });
    pass("after CONTRACT_WATTS=100 and a reload the page shows: " + await page.textContent("#band"));

    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const box = await page.$eval("#band", e => [e.scrollWidth, e.clientWidth, document.documentElement.scrollWidth]);
    if (box[0] > box[1] || box[2] > 390) fail("the band line is wider than a phone: " + box.join(" "));
    pass("the band line fits a 390-px phone");
    await page.screenshot({ path: path.join(process.env.OUT, "serve-phone.png"), fullPage: true });
    if (outside.length) fail("requests outside the box: " + outside.join(" "));
    pass("no request left 127.0.0.1; screenshots in target/serve-page.png, target/serve-phone.png");
  } finally {
    await ctx.close();
  }
})().catch(e => fail(e.stack || e));
