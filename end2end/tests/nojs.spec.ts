import { expect, test } from "@playwright/test";
import { embedUrl, seedCase } from "./env";

// JavaScript off: every action is a plain form post the server answers with
// a redirect. (Without JS no message can be posted; the partner learns the
// outcome from the server notification.) The page is opened top-level here,
// since the partner's page itself needs JS to frame it.
test.use({ javaScriptEnabled: false });

test("pay now works as a form post", async ({ page }) => {
  const seeded = seedCase();
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await page.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(page.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await expect(page.getByTestId("heading")).toHaveText("이미 결제가 완료되었어요");
});

test("a decline shows the reason", async ({ page }) => {
  const seeded = seedCase("sandbox_do_not_honor");
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await page.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(page.getByTestId("decline-reason")).toHaveText("카드사 승인 거절");
});

test("change method through the card window, in the whole tab", async ({ page }) => {
  const seeded = seedCase("sandbox_expired_card");
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await page.getByRole("link", { name: "결제 수단 변경" }).click();
  await page.getByRole("link", { name: "새 카드 등록하기" }).click();
  await page.getByRole("button", { name: /테스트카드 4242\*/ }).click();
  await expect(page.getByTestId("heading")).toHaveText("카드를 등록하고 결제했어요");
  await expect(page.getByTestId("card-back")).toBeVisible();
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await expect(page.getByTestId("heading")).toHaveText("이미 결제가 완료되었어요");
});

test("change date, with a refused date first", async ({ page }) => {
  const seeded = seedCase();
  await page.goto(embedUrl("/embed/recovery/date", seeded.token));
  const input = page.getByLabel("새 결제일");
  const min = (await input.getAttribute("min"))!;
  // The browser would refuse an out-of-range date; the server must too.
  await input.evaluate((el) => el.removeAttribute("max"));
  await input.fill("2099-01-01");
  await page.getByRole("button", { name: "이 날로 변경하기" }).click();
  await expect(page.getByTestId("notice")).toContainText("고를 수 없는 날짜예요");
  await page.getByLabel("새 결제일").fill(min);
  await page.getByRole("button", { name: "이 날로 변경하기" }).click();
  await expect(page.getByTestId("selected-date")).toContainText(min);
});

test("remind me later", async ({ page }) => {
  const seeded = seedCase();
  await page.goto(embedUrl("/embed/recovery", seeded.token));
  await page.getByRole("button", { name: /나중에 알림 받기/ }).click();
  await expect(page.getByTestId("remind-left")).toHaveText("2회 남음");
});
