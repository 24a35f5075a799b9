import { expect, type Page } from "@playwright/test";
import { PARTNER_URL } from "./env";

/** Messages the partner page's listener accepted, oldest first. */
export async function received(page: Page): Promise<Record<string, unknown>[]> {
  const items = await page.getByTestId("received").locator("li").allTextContents();
  return items.map((t) => JSON.parse(t));
}

/** The accepted messages that report something (not `ready` or `resize`). */
export async function outcomes(page: Page): Promise<Record<string, unknown>[]> {
  return (await received(page)).filter((m) => m.action !== "ready" && m.action !== "resize");
}

export async function dropped(page: Page): Promise<string[]> {
  return page.getByTestId("dropped").locator("li").allTextContents();
}

/** Opens the partner's recovery page and waits until the embed says `ready`. */
export async function openPartnerPage(page: Page, token: string, path = "/") {
  await page.goto(`${PARTNER_URL}${path}?token=${encodeURIComponent(token)}`);
  await expect(page.getByTestId("received")).toContainText('"action":"ready"', { timeout: 20_000 });
  // The iframe is resized to its content right after it loads; clicking
  // before that could land where a button was a moment ago.
  await expect(page.getByTestId("received")).toContainText('"action":"resize"', { timeout: 20_000 });
  const frame = page.frameLocator("iframe[data-rebound-embed-id]");
  const embedId = (await page.locator("iframe[data-rebound-embed-id]").getAttribute("data-rebound-embed-id"))!;
  return { frame, embedId };
}

/** Waits until the listener has accepted a message with this action. */
export async function waitFor(page: Page, action: string) {
  await expect
    .poll(async () => (await received(page)).map((m) => m.action), { timeout: 15_000 })
    .toContain(action);
}
