import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { embedUrl, seedCase, type SeededCase } from "./env";

// Every page, checked by axe-core for serious or critical WCAG violations,
// and screenshotted (artifacts under target/e2e-results, per project: the
// phone project gives the 360 px shots).

type Setup = (c: SeededCase, page: import("@playwright/test").Page) => Promise<string>;

const pages: [string, string, Setup][] = [
  ["main", "sandbox_success", async (c) => embedUrl("/embed/recovery", c.token)],
  ["main-en", "sandbox_success", async (c) => embedUrl("/embed/recovery", c.token, { lang: "en" })],
  ["method", "sandbox_success", async (c) => embedUrl("/embed/recovery/method", c.token)],
  ["date", "sandbox_success", async (c) => embedUrl("/embed/recovery/date", c.token)],
  ["home", "sandbox_success", async (c) => embedUrl("/embed/recovery/home", c.token)],
  ["unknown-token", "sandbox_success", async () => embedUrl("/embed/recovery", "no-such-token")],
  [
    "paid",
    "sandbox_success",
    async (c, page) => {
      await page.goto(embedUrl("/embed/recovery", c.token));
      await page.getByRole("button", { name: "지금 결제하기" }).click();
      await expect(page.getByTestId("heading")).toHaveText("결제가 완료되었어요");
      return page.url();
    },
  ],
  [
    "failed",
    "sandbox_insufficient_funds",
    async (c, page) => {
      await page.goto(embedUrl("/embed/recovery", c.token));
      await page.getByRole("button", { name: "지금 결제하기" }).click();
      await expect(page.getByTestId("decline-reason")).toBeVisible();
      return page.url();
    },
  ],
  [
    "date-changed",
    "sandbox_success",
    async (c, page) => {
      await page.goto(embedUrl("/embed/recovery/date", c.token));
      await page.getByRole("button", { name: "이 날로 변경하기" }).click();
      await expect(page.getByTestId("selected-date")).toBeVisible();
      return page.url();
    },
  ],
  [
    "reminded",
    "sandbox_success",
    async (c, page) => {
      await page.goto(embedUrl("/embed/recovery", c.token));
      await page.getByRole("button", { name: /나중에 알림 받기/ }).click();
      await expect(page.getByTestId("remind-left")).toBeVisible();
      return page.url();
    },
  ],
  [
    "card-window",
    "sandbox_success",
    async (c, page) => {
      // The card window opens in a window of its own; its address is checked.
      await page.goto(embedUrl("/embed/recovery/method", c.token));
      const opened = page.waitForEvent("popup");
      await page.getByRole("link", { name: "새 카드 등록하기" }).click();
      const popup = await opened;
      await expect(popup.getByRole("heading", { name: "테스트 카드 등록" })).toBeVisible();
      const url = popup.url();
      await popup.close();
      return url;
    },
  ],
  [
    "card-result",
    "sandbox_success",
    async (c, page) => {
      // The card page's outcome, shown top-level after the card window.
      await page.goto(embedUrl("/embed/recovery/method", c.token));
      const href = (await page.getByRole("link", { name: "새 카드 등록하기" }).getAttribute("href"))!;
      await page.goto(new URL(href, page.url()).href);
      await page.getByRole("button", { name: /테스트카드 4242\*/ }).click();
      await expect(page.getByTestId("heading")).toHaveText("카드를 등록하고 결제했어요");
      return page.url();
    },
  ],
];

for (const [name, idKey, setup] of pages) {
  test(`${name}: no serious accessibility violations`, async ({ page }, info) => {
    const url = await setup(seedCase(idKey), page);
    await page.goto(url);
    await page.screenshot({ path: info.outputPath(`${name}.png`), fullPage: true });
    const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
    const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
  });
}

test("keyboard: tab order reaches pay first, then the other actions", async ({ page }) => {
  const c = seedCase();
  await page.goto(embedUrl("/embed/recovery", c.token));
  const order: string[] = [];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement?.textContent?.trim() ?? ""));
  }
  expect(order).toEqual(["지금 결제하기", "결제 수단 변경", "결제일 변경", "나중에 알림 받기 (3회 남음)", "홈으로"]);
  // Enter on the focused pay button pays.
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("heading")).toHaveText("결제가 완료되었어요");
});
