import { expect, test } from "@playwright/test";
import { PARTNER_URL, seedCase } from "./env";
import { openPartnerPage, outcomes, waitFor } from "./partner";

// Every action on the embedded page, across two origins, checking what the
// partner page's listener receives. Runs on desktop and on a 360 px phone.

test("a declined payment tells the partner payment-failed with the reason", async ({ page }) => {
  const seeded = seedCase("sandbox_insufficient_funds");
  const { frame, embedId } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제에 실패했어요");
  await expect(frame.getByTestId("decline-reason")).toHaveText("한도초과");
  await waitFor(page, "payment-failed");
  expect(await outcomes(page)).toEqual([
    expect.objectContaining({ action: "payment-failed", reason: "한도초과", token: seeded.token, embedId }),
  ]);
  // The failed page offers another method.
  await expect(frame.getByRole("link", { name: "다른 결제 수단으로 결제" })).toBeVisible();
});

test("changing the payment method opens the card window outside the frame, pays, and sends change-method", async ({ page }) => {
  const seeded = seedCase("sandbox_expired_card");
  const { frame, embedId } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("link", { name: "결제 수단 변경" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제 수단 변경");
  // The card window is a window of its own (a popup here), never the frame:
  // no PG documents its window inside a third party's iframe.
  const popupOpened = page.waitForEvent("popup");
  await frame.getByRole("link", { name: "새 카드 등록하기" }).click();
  const popup = await popupOpened;
  await expect(frame.getByText("새 창에서 카드 등록을 계속해 주세요")).toBeVisible();
  // The sandbox's card window stands in for the PG's.
  await popup.getByRole("button", { name: /테스트카드 4242\*/ }).click();
  await expect(popup.getByTestId("heading")).toHaveText("카드를 등록하고 결제했어요");
  // The frame learns the outcome from the server and shows the paid page.
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await expect(frame.getByTestId("payment-info")).toHaveText("테스트카드 4242*");
  await waitFor(page, "payment-complete");
  const got = await outcomes(page);
  expect(got.map((m) => m.action)).toEqual(["change-method", "payment-complete"]);
  expect(got[0]).toMatchObject({ action: "change-method", token: seeded.token, orderId: seeded.orderId, embedId });
  for (const m of got) expect(m).not.toHaveProperty("idKey");
  // The popup closes itself.
  await popup.waitForEvent("close", { timeout: 10_000 });
});

test("with popups blocked, the card window takes the whole tab and comes back to the partner's page", async ({ page }) => {
  // A popup blocker (or an iframe sandbox without allow-popups): window.open
  // gives nothing, in every frame.
  await page.addInitScript(() => {
    window.open = () => null;
  });
  const seeded = seedCase("sandbox_expired_card");
  const { frame } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("link", { name: "결제 수단 변경" }).click();
  await frame.getByRole("link", { name: "새 카드 등록하기" }).click();
  // The whole tab is on our card page now (the sandbox's window, top-level).
  await expect(page).toHaveURL(/\/embed\/sandbox\/billing-auth/);
  await page.getByRole("button", { name: /테스트카드 4242\*/ }).click();
  await expect(page.getByTestId("heading")).toHaveText("카드를 등록하고 결제했어요");
  // ...and goes back to the partner's page, whose frame shows the outcome
  // and tells the listener.
  await page.waitForURL(`${PARTNER_URL}/**`);
  const back = page.frameLocator("iframe[data-rebound-embed-id]");
  await expect(back.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await waitFor(page, "payment-complete");
  expect((await outcomes(page)).map((m) => m.action)).toEqual(["change-method", "payment-complete"]);
});

test("changing the date sends change-date with the chosen day", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("link", { name: "결제일 변경" }).click();
  const input = frame.getByLabel("새 결제일");
  const max = (await input.getAttribute("max"))!;
  await input.fill(max);
  await frame.getByRole("button", { name: "이 날로 변경하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제일이 변경되었어요");
  await waitFor(page, "change-date");
  expect(await outcomes(page)).toEqual([
    expect.objectContaining({ action: "change-date", orderId: seeded.orderId, selectedDate: max }),
  ]);
});

test("remind me later works three times, then the option is gone", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  for (const left of ["2회 남음", "1회 남음", "0회 남음"]) {
    await frame.getByRole("button", { name: /나중에 알림 받기/ }).click();
    await expect(frame.getByTestId("heading")).toHaveText("나중에 다시 알려드릴게요");
    await expect(frame.getByTestId("remind-left")).toHaveText(left);
    await frame.getByRole("link", { name: "돌아가기" }).click();
    await expect(frame.getByTestId("heading")).toHaveText("결제에 실패했어요");
  }
  await expect(frame.getByRole("button", { name: /나중에 알림 받기/ })).toHaveCount(0);
  expect(await outcomes(page)).toEqual([]);
});

test("home sends a symbolic redirect, and the partner's handler goes home", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("link", { name: "홈으로" }).click();
  // The guide's snippet handles rebound:home with location.assign("/").
  await expect(page).toHaveURL(`${PARTNER_URL}/`);
});

test("a double tap on pay sends one request and lands on the outcome", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  // Wait for the island to hydrate (it marks the form), then tap twice.
  const button = frame.getByRole("button", { name: "지금 결제하기" });
  await button.dblclick();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await waitFor(page, "payment-complete");
  expect((await outcomes(page)).map((m) => m.action)).toEqual(["payment-complete"]);
});

test("without WASM the page still pays and reports it", async ({ page }) => {
  await page.route("**/pkg/*.wasm", (route) => route.abort());
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  await frame.getByRole("button", { name: "지금 결제하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await waitFor(page, "payment-complete");
  expect(await outcomes(page)).toEqual([expect.objectContaining({ action: "payment-complete", orderId: seeded.orderId })]);
});
