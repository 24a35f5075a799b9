import { expect, test, type FrameLocator, type Page } from "@playwright/test";
import { seedCase } from "./env";
import { openPartnerPage, received } from "./partner";

// The iframe's height as the partner page sees it, page by page through the
// flow: every height the page reports must be that page's settled height.
// A first report measured before the page's styles apply (1,200-3,500 px at
// 360 px) makes the partner's page jump; a page that reports nothing (the
// sandbox's card window) leaves the iframe at the previous page's height and
// cuts it off.

async function heights(page: Page): Promise<number[]> {
  return (await received(page)).filter((m) => m.action === "resize").map((m) => m.height as number);
}

/** Waits until no new height arrives for a while; returns the heights since `from`. */
async function settled(page: Page, from: number): Promise<number[]> {
  let last = -1;
  await expect
    .poll(
      async () => {
        const now = (await heights(page)).length;
        const still = now === last && now > from;
        last = now;
        return still;
      },
      { intervals: [400], timeout: 15_000 },
    )
    .toBe(true);
  return (await heights(page)).slice(from);
}

/** The heights of one page of the flow: each equal to its settled height,
 * which is the iframe's height and the page's content height. */
async function expectSteady(page: Page, frame: FrameLocator, from: number, what: string) {
  const got = await settled(page, from);
  const final = got[got.length - 1];
  expect(got, `${what}: every reported height is the settled one`).toEqual(got.map(() => final));
  await expect
    .poll(() => page.locator("iframe[data-rebound-embed-id]").evaluate((f) => (f as HTMLElement).style.height))
    .toBe(`${final}px`);
  const content = await frame.locator("body").evaluate((b) => Math.ceil(b.getBoundingClientRect().height));
  expect(Math.abs(content - final), `${what}: the iframe fits its content`).toBeLessThanOrEqual(1);
  return (await heights(page)).length;
}

test("the iframe takes each page's height once, through pay, card change and date", async ({ page }) => {
  const seeded = seedCase("sandbox_expired_card");
  const { frame } = await openPartnerPage(page, seeded.token);
  let seen = await expectSteady(page, frame, 0, "main");

  await frame.getByRole("link", { name: "결제 수단 변경" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제 수단 변경");
  seen = await expectSteady(page, frame, seen, "method");

  // The card window is a window of its own; the frame shows that it waits.
  const opened = page.waitForEvent("popup");
  await frame.getByRole("link", { name: "새 카드 등록하기" }).click();
  const popup = await opened;
  await expect(frame.getByText("새 창에서 카드 등록을 계속해 주세요")).toBeVisible();
  seen = await expectSteady(page, frame, seen, "waiting for the card window");
  // The whole card list fits the popup: the last choice is visible.
  await expect(popup.getByRole("button", { name: "취소" })).toBeVisible();

  await popup.getByRole("button", { name: /테스트카드 4242\*/ }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제가 완료되었어요");
  await expectSteady(page, frame, seen, "paid");
});

test("the date page and its outcome each report one steady height", async ({ page }) => {
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  let seen = await expectSteady(page, frame, 0, "main");
  await frame.getByRole("link", { name: "결제일 변경" }).click();
  await expect(frame.getByLabel("새 결제일")).toBeVisible();
  seen = await expectSteady(page, frame, seen, "date");
  const input = frame.getByLabel("새 결제일");
  await input.fill((await input.getAttribute("max"))!);
  await frame.getByRole("button", { name: "이 날로 변경하기" }).click();
  await expect(frame.getByTestId("heading")).toHaveText("결제일이 변경되었어요");
  await expectSteady(page, frame, seen, "date changed");
});

test("a frame laid out before it has a width reports its height only once it has one", async ({ page }) => {
  // What a cross-origin iframe sees when it runs before the partner's page
  // has told it its size (or when it sits in a hidden tab): next to no
  // width. Its height there (every word on its own line) is nobody's.
  const seeded = seedCase();
  const { frame } = await openPartnerPage(page, seeded.token);
  const seen = await expectSteady(page, frame, 0, "main");
  const readies = async () => (await received(page)).filter((m) => m.action === "ready").length;
  const before = await readies();
  await page.locator("iframe[data-rebound-embed-id]").evaluate((f) => {
    (f as HTMLElement).style.width = "10px";
  });
  // The frame learns its new width a moment later (another process):
  // reload it once it has, so its first measure sees next to no width.
  await expect.poll(() => frame.locator("html").evaluate((h) => h.clientWidth)).toBe(10);
  await frame.locator("html").evaluate(() => location.reload());
  await expect.poll(readies).toBeGreaterThan(before);
  await page.waitForTimeout(1_000);
  expect((await heights(page)).slice(seen), "nothing measured at 10 px").toEqual([]);
  await page.locator("iframe[data-rebound-embed-id]").evaluate((f) => {
    (f as HTMLElement).style.width = "100%";
  });
  await expectSteady(page, frame, seen, "main, once it has a width");
});
