// Silent retries as the customer meets them: the card was charged by
// itself overnight, and the customer opens yesterday's message link.
// The test moves the server's dev clock two days on and back again, so
// the tests after it find the clock where they expect it.
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { DATABASE_URL, SERVER_BIN, embedUrl, seedCase } from "./env";
import { openPartnerPage, outcomes } from "./partner";

function cli(...args: string[]): string {
  return execFileSync(SERVER_BIN, args, { env: { ...process.env, DATABASE_URL, RUST_LOG: "warn" }, encoding: "utf8" });
}

test("a customer who opens an old link after a silent retry recovered the case finds nothing left to pay", async ({ page }, info) => {
  const seeded = seedCase("sandbox_success");
  // The renewal failed just now; the first silent retry is due the next
  // morning at 10:00 KST. Two days on, the server's engine has charged it.
  cli("dev", "advance", "--hours", "48");
  try {
    await oldLinkShowsItPaid(page, info, seeded.token);
  } finally {
    cli("dev", "advance", "--hours=-48");
  }
});

async function oldLinkShowsItPaid(page: Page, info: TestInfo, token: string) {
  await expect
    .poll(async () => (await page.request.get(embedUrl("/embed/recovery", token))).text(), {
      timeout: 20_000,
      intervals: [250],
    })
    .toContain("이미 결제가 완료되었어요");

  const { frame } = await openPartnerPage(page, token);
  await expect(frame.getByTestId("heading")).toHaveText("이미 결제가 완료되었어요");
  await expect(frame.getByTestId("amount")).toHaveText("10,000원");
  await expect(frame.getByTestId("paid-at")).toBeVisible();
  await expect(frame.getByRole("button", { name: "지금 결제하기" })).toHaveCount(0);
  await expect(frame.getByRole("button", { name: "결제 수단 변경" })).toHaveCount(0);
  await page.screenshot({ path: info.outputPath("old-link-after-silent-retry.png"), fullPage: true });
  // An old link reports nothing new to the partner page: the partner's
  // backend already has the signed payment.completed notice.
  expect(await outcomes(page)).toEqual([]);
}
