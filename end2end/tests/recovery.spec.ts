import { expect, test } from "@playwright/test";
import { HOST_URL, PARTNER_URL, seedCase } from "./env";
import { dropped, openPartnerPage, outcomes, received, waitFor } from "./partner";

test("pay now on the embedded page tells the partner page payment-complete", async ({ page }, info) => {
  const seeded = seedCase();
  const { frame, embedId } = await openPartnerPage(page, seeded.token);

  await expect(frame.getByTestId("product-name")).toHaveText("프리미엄 멤버십 1개월");
  await expect(frame.getByTestId("amount")).toHaveText("10,000원");
  await page.screenshot({ path: info.outputPath("before-pay.png"), fullPage: true });

  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(frame.getByTestId("paid")).toBeVisible();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await expect(page.getByTestId("partner-status")).toHaveAttribute("data-state", "payment-complete");
  await page.screenshot({ path: info.outputPath("after-pay.png"), fullPage: true });

  const messages = await outcomes(page);
  expect(messages.map((m) => m.action)).toEqual(["payment-complete"]);
  const done = messages[0];
  expect(done).toMatchObject({
    action: "payment-complete",
    orderId: seeded.orderId,
    token: seeded.token,
    paymentInfo: "신한카드 1234*",
    protocol: "rebound",
    version: 1,
    embedId,
  });
  expect(done.paymentDate).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  expect(done).not.toHaveProperty("idKey");
  expect(await dropped(page)).toEqual([]);
});

test("the page reports its height and the partner sizes the iframe to it", async ({ page }) => {
  const seeded = seedCase();
  await openPartnerPage(page, seeded.token);
  await waitFor(page, "resize");
  const resize = (await received(page)).find((m) => m.action === "resize")!;
  expect(resize.height).toBeGreaterThan(300);
  expect(resize.height).toBeLessThan(2000);
  const last = (await received(page)).filter((m) => m.action === "resize").pop()!;
  await expect
    .poll(() => page.locator("iframe[data-rebound-embed-id]").evaluate((f) => (f as HTMLElement).style.height))
    .toBe(`${last.height}px`);
  // No resize loop: the height settles.
  await page.waitForTimeout(500);
  const count = (await received(page)).filter((m) => m.action === "resize").length;
  await page.waitForTimeout(500);
  expect((await received(page)).filter((m) => m.action === "resize").length).toBe(count);
});

test("messages from other windows, origins or embeds are ignored", async ({ page }) => {
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

  // 1. Another script on the partner page itself (wrong origin).
  await page.evaluate((m) => window.postMessage(m, "*"), forged);

  // 2. Another frame served from our own host, but not the bound iframe.
  await page.evaluate((src) => {
    const f = document.createElement("iframe");
    f.src = src;
    f.id = "intruder";
    document.body.append(f);
    return new Promise((r) => f.addEventListener("load", r));
  }, `${HOST_URL}/embed/recovery?token=none`);
  const intruder = page.frames().find((f) => f.url().startsWith(`${HOST_URL}/embed/recovery?token=none`))!;
  await intruder.evaluate((m) => parent.postMessage(m, "*"), forged);

  // 3. The bound iframe, but a different embed id, and a malformed message.
  const bound = page.frames().find((f) => f.url().includes(`embedId=${embedId}`))!;
  await bound.evaluate((m) => parent.postMessage({ ...m, embedId: "someone-else" }, "*"), forged);
  await bound.evaluate((m) => parent.postMessage({ ...m, action: "steal-cookies" }, "*"), forged);
  await bound.evaluate(() => parent.postMessage("payment-complete", "*"));

  await expect.poll(() => dropped(page)).toEqual([
    "wrong-origin",
    "wrong-source",
    "wrong-embed-id",
    "unknown-action",
    "not-an-object",
  ]);
  expect(await outcomes(page)).toEqual([]);
  await expect(page.getByTestId("partner-status")).not.toHaveAttribute("data-state", "payment-complete");
});

test("an unknown token shows a clear page inside the partner's iframe", async ({ page }) => {
  await page.goto(`${PARTNER_URL}/?token=not-a-real-token`);
  const frame = page.frameLocator("iframe[data-rebound-embed-id]");
  await expect(frame.getByTestId("page-error")).toContainText("링크를 확인할 수 없어요");
});
