import { gzipSync } from "node:zlib";
import { expect, test } from "@playwright/test";
import { HOST_URL, PARTNER_URL, seedCase } from "./env";
import { dropped, openPartnerPage, outcomes, received, waitFor } from "./partner";

// The partner listener and the one-tag embed, across two origins: the demo
// partner's pages run the partner guide's snippets verbatim.

test("endpoints mode posts the outcome to the partner's backend with its CSRF header", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token, "/endpoints");
  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await expect
    .poll(async () => (await (await page.request.get(`${PARTNER_URL}/recovery/log`)).json()) as unknown[])
    .toContainEqual(
      expect.objectContaining({
        endpoint: "reactivate",
        body: expect.objectContaining({ intent: "reactivate", action: "payment-complete", orderId: seeded.orderId }),
      }),
    );
  // Only same-origin endpoints: the log holds no idKey either.
  const log = JSON.stringify(await (await page.request.get(`${PARTNER_URL}/recovery/log`)).json());
  expect(log).not.toContain("idKey");
});

test("no event is lost when the iframe reloads", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  const readies = async () => (await received(page)).filter((m) => m.action === "ready").length;
  const before = await readies();
  await page.locator("iframe[data-rebound-embed-id]").evaluate((f) => {
    const iframe = f as HTMLIFrameElement;
    iframe.src = iframe.src;
  });
  await expect.poll(readies).toBeGreaterThan(before);
  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await waitFor(page, "payment-complete");
  expect(await dropped(page)).toEqual([]);
});

test("two iframes on one page each hear only their own page, even unreferenced", async ({ page }) => {
  const first = seedCase();
  const second = seedCase();
  await openPartnerPage(page, first.token);
  // A second embed built with the JS API, as the guide shows.
  await page.evaluate(
    async ({ host, token }) => {
      const { default: init, RecoveryListener } = await import(`${host}/sdk/rebound_listener.js`);
      await init();
      const iframe = document.createElement("iframe");
      iframe.id = "second";
      const embedId = crypto.randomUUID();
      const got: unknown[] = [];
      const drops: string[] = [];
      (window as unknown as { second: unknown }).second = { got, drops };
      const listener = new RecoveryListener(iframe, {
        host,
        embedId,
        onMessage: (m: unknown) => got.push(m),
        onDrop: (r: string) => drops.push(r),
      });
      // What garbage collection does to a listener the page kept no
      // reference to: it must go on listening (only destroy() stops it).
      listener.free();
      document.body.append(iframe);
      const src = new URL(`${host}/embed/recovery`);
      src.searchParams.set("token", token);
      src.searchParams.set("origin", location.origin);
      src.searchParams.set("embedId", embedId);
      iframe.src = src.href;
    },
    { host: HOST_URL, token: second.token },
  );
  const secondFrame = page.frameLocator("#second");
  // Resized to its content first (the listener does it): click after that.
  await expect
    .poll(() => page.locator("#second").evaluate((f) => (f as HTMLElement).style.height), { timeout: 15_000 })
    .not.toBe("");
  // Submitted directly: this test is about which listener hears what, and
  // the first embed resizing above can move the button under a click.
  await secondFrame
    .locator('form[action="/embed/recovery/action/pay"]')
    .evaluate((form) => (form as HTMLFormElement).requestSubmit());
  await expect(secondFrame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  const got = () =>
    page.evaluate(() => (window as unknown as { second: { got: { action: string; orderId?: string }[] } }).second.got);
  await expect.poll(async () => (await got()).map((m) => m.action), { timeout: 15_000 }).toContain("payment-complete");
  expect((await got()).find((m) => m.action === "payment-complete")!.orderId).toBe(second.orderId);
  // The first embed saw the second iframe's messages only as drops.
  expect(await outcomes(page)).toEqual([]);
  expect(await dropped(page)).toContain("wrong-source");
});

test("spoofed, malformed, oversized and stray messages are all dropped", async ({ page }) => {
  const seeded = seedCase();
  const { embedId } = await openPartnerPage(page, seeded.token);
  const forged = {
    action: "payment-complete",
    paymentInfo: "위조카드 0000*",
    paymentDate: "2026-11-22 00:00:00",
    token: seeded.token,
    orderId: seeded.orderId,
    protocol: "rebound",
    version: 1,
    messageId: "forged",
    sentAt: "2026-11-22T00:00:00Z",
    embedId,
  };
  const bound = page.frames().find((f) => f.url().includes(`embedId=${embedId}`))!;
  // Noise any page gets: a script posting to "*" (webpack, extensions, widgets).
  await page.evaluate(() => window.postMessage({ type: "webpackOk" }, "*"));
  // From the bound frame itself (say, an injected script): oversized objects
  // and over-long fields are not read.
  await bound.evaluate((m) => {
    const big: Record<string, unknown> = { ...m };
    for (let i = 0; i < 100; i++) big[`k${i}`] = i;
    parent.postMessage(big, "*");
  }, forged);
  await bound.evaluate((m) => parent.postMessage({ ...m, messageId: "x".repeat(5000) }, "*"), forged);
  await bound.evaluate((m) => parent.postMessage({ ...m, version: 2 }, "*"), forged);
  await expect.poll(() => dropped(page)).toEqual([
    "wrong-origin",
    "too-large",
    "field-too-long:messageId",
    "unsupported-version",
  ]);
  expect(await outcomes(page)).toEqual([]);
});

test("the listener refuses an inexact host and cross-origin endpoints", async ({ page }) => {
  const seeded = seedCase();
  await openPartnerPage(page, seeded.token);
  const errors = await page.evaluate(async (host) => {
    const { default: init, RecoveryListener } = await import(`${host}/sdk/rebound_listener.js`);
    await init();
    const tryNew = (options: object) => {
      try {
        new RecoveryListener(document.createElement("iframe"), options);
        return "started";
      } catch (e) {
        return String((e as Error).message);
      }
    };
    const noop = () => {};
    return [
      tryNew({ host: "*", onMessage: noop }),
      tryNew({ host: `${host}/`, onMessage: noop }),
      tryNew({ host, endpoints: { reactivate: "https://evil.example/steal" } }),
      tryNew({ host }),
      tryNew({ host, endpoints: { reactivate: "/recovery/reactivate" } }),
    ];
  }, HOST_URL);
  expect(errors[0]).toContain("exact origin");
  expect(errors[1]).toContain("exact origin");
  expect(errors[2]).toContain("own origin");
  expect(errors[3]).toContain("callbacks");
  expect(errors[4]).toBe("started");
});

test("the listener stays within its 15 KB gzip budget", async ({ request }) => {
  const manifest = await (await request.get(`${HOST_URL}/sdk/manifest.json`)).json();
  let total = 0;
  for (const name of ["rebound_listener.js", "rebound_listener_bg.wasm"]) {
    const res = await request.get(`${HOST_URL}${manifest.files[name].path}`);
    expect(res.headers()["cache-control"]).toContain("immutable");
    total += gzipSync(await res.body(), { level: 9 }).length;
  }
  expect(total).toBeLessThanOrEqual(15_000);
});

test("the pinned embed loads with its published integrity", async ({ page }) => {
  const seeded = seedCase();
  const manifest = await (await page.request.get(`${HOST_URL}/sdk/manifest.json`)).json();
  const embed = manifest.files["embed.js"];
  await page.goto(`${PARTNER_URL}/endpoints?token=${seeded.token}`);
  // A page that pins the versioned file with SRI: the browser checks the hash.
  await page.evaluate(
    ({ src, integrity }) => {
      const s = document.createElement("script");
      s.type = "module";
      s.src = src;
      s.integrity = integrity;
      s.crossOrigin = "anonymous";
      s.dataset.token = "pinned";
      document.body.append(s);
    },
    { src: `${HOST_URL}${embed.path}`, integrity: embed.integrity },
  );
  await expect(page.locator("iframe[data-rebound-embed-id]")).toHaveCount(2);
});

test("destroy() removes the handler: nothing is heard afterwards", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  await page.locator("iframe[data-rebound-embed-id]").evaluate((f) => {
    (f as HTMLIFrameElement & { reboundListener: { destroy(): void } }).reboundListener.destroy();
  });
  const before = (await received(page)).length;
  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  // The page did post (ready, payment-complete, resize); nobody listened.
  await page.waitForTimeout(500);
  expect((await received(page)).length).toBe(before);
  expect(await dropped(page)).toEqual([]);
});
