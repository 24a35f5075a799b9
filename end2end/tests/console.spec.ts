import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { DATABASE_URL, HOST_URL, SERVER_BIN } from "./env";

// The console walk (issue 15), at desktop and 360 px (the two projects):
// an operator creates a partner and its user; the partner user reads an
// overview of a dataset with known outcomes (the same figures on the page
// and the API), sets their own password, opens a case's timeline, retries a charge, edits the
// scenario and sees a new case take the new version, and redelivers a
// notice. axe on every page; a screenshot of each under target/e2e-results.

const PASSWORD = "console-walk-password-1";

function cli(args: string[], input?: string): string {
  return execFileSync(SERVER_BIN, args, {
    env: { ...process.env, DATABASE_URL, RUST_LOG: "warn" },
    encoding: "utf8",
    input,
  });
}

async function checked(page: Page, info: TestInfo, name: string) {
  await page.screenshot({ path: info.outputPath(`console-${name}.png`), fullPage: true });
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(results.violations.map((v) => `${name} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

async function signIn(page: Page, email: string) {
  await page.goto(`${HOST_URL}/console/login`);
  await page.getByLabel("이메일").fill(email);
  await page.getByLabel("비밀번호").fill(PASSWORD);
  await page.getByRole("button", { name: "로그인" }).click();
  await expect(page.getByRole("heading", { name: "회수 현황" })).toBeVisible();
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "로그아웃" }).click();
  await expect(page.getByRole("heading", { name: "Rebound 콘솔 로그인" })).toBeVisible();
}

function figure(page: Page, id: string) {
  return page.locator(`[data-figure="${id}"] .value`);
}

test("operators and partners run recovery from the console", async ({ page, request }, info) => {
  test.setTimeout(120_000);
  const run = `${info.project.name}${Date.now() % 100000}`;
  const operator = `ops-${run}@rebound.example`;
  const staff = `staff-${run}@acme.example`;
  const partnerName = `acme-${run}`;
  cli(["admin", "create", "--email", operator], `${PASSWORD}\n`);

  // The operator signs in, creates the partner and its user.
  await signIn(page, operator);
  await checked(page, info, "overview-operator");
  await page.getByRole("link", { name: "파트너", exact: true }).click();
  await page.getByLabel("이름 (영문, API와 CLI에서 씀)").fill(partnerName);
  await page.getByLabel("상호 (고객에게 보임)").fill("ACME 주식회사");
  await page.getByLabel(/회수 페이지를 넣을 사이트의 출처/).fill("https://shop.acme.example");
  await page.getByRole("button", { name: "파트너 만들기" }).click();
  const token = (await page.locator('[data-secret="token"]').textContent())!.trim();
  expect(token).toMatch(/^rb_sk_/);
  await checked(page, info, "partners");
  await page.getByLabel("이메일").fill(staff);
  await page.getByLabel(/처음 비밀번호/).fill(PASSWORD);
  await page.getByLabel("볼 수 있는 파트너").selectOption({ label: partnerName });
  // The partner's admin: it saves the scenario below.
  await page.getByLabel("파트너 안에서의 역할").selectOption("admin");
  await page.getByRole("button", { name: "계정 만들기" }).click();
  await expect(page.getByRole("status")).toContainText(staff);
  await signOut(page);

  // Twenty cases with known outcomes, opened today.
  cli(["dev", "seed-outcomes", "--partner", partnerName, "--cases", "20", "--days", "1"]);

  await signIn(page, staff);
  await expect(page.getByLabel("파트너")).toHaveCount(0);
  // The first password was the operator's: the partner user sets their own.
  await page.getByRole("link", { name: staff }).click();
  await checked(page, info, "account");
  await page.getByLabel("지금 비밀번호").fill(PASSWORD);
  await page.getByLabel(/^새 비밀번호 \(/).fill(`${PASSWORD}-own`);
  await page.getByLabel("새 비밀번호 확인").fill(`${PASSWORD}-own`);
  await page.getByRole("button", { name: "바꾸기" }).click();
  await expect(page.getByRole("status")).toContainText("비밀번호를 바꿨습니다");
  await page.getByRole("link", { name: "개요" }).click();
  const expected: Record<string, string> = {
    opened: "20 · 220,000원",
    recovered: "15 · 160,000원",
    "rate-count": "75.0%",
    "rate-amount": "72.7%",
    "by-retry": "6 · 60,000원",
    "by-page": "4 · 40,000원",
    "by-method": "2 · 40,000원",
    "by-date": "1 · 10,000원",
    "by-partner": "2 · 10,000원",
    "at-risk": "2 · 30,000원",
    ended: "일시정지 3 · 해지 0",
    median: "48시간 이내",
    p90: "120시간 이내",
  };
  for (const [id, text] of Object.entries(expected)) {
    await expect(figure(page, id), id).toHaveText(text);
  }
  await expect(page.locator(".chart svg")).toHaveCount(3);
  await checked(page, info, "overview");
  // The API says the same.
  const api = await (await request.get(`${HOST_URL}/api/v1/cover/analytics`, { headers: { "Secret-Token": token } })).json();
  expect(api.totals.opened).toBe(20);
  expect(api.totals.recoveredAmount).toBe(160000);
  expect(api.totals.recoveryRateByCount).toBe(0.75);
  expect(api.totals.recoveredBy.retry).toEqual({ count: 6, amount: 60000 });
  expect(api.totals.revenueAtRisk).toEqual({ count: 2, amount: 30000 });
  expect(api.totals.medianRecoveryHours).toBe(48);

  // An open case: its timeline, then a retry from the console.
  await page.getByRole("link", { name: "케이스", exact: true }).click();
  await page.getByLabel("상태").selectOption("OPEN");
  await page.getByRole("button", { name: "찾기" }).click();
  await checked(page, info, "cases");
  await page.locator("tbody tr a").first().click();
  await expect(page.getByRole("heading", { name: /케이스 #\d+/ })).toBeVisible();
  await expect(page.locator(".timeline")).toContainText("결제 실패");
  await expect(page.locator(".timeline")).toContainText("단계 1");
  await checked(page, info, "case");
  await page.getByRole("button", { name: "지금 결제 재시도" }).click();
  await expect(page.getByRole("status")).toContainText("케이스가 회수되었습니다");
  await expect(page.locator("[data-status]")).toHaveAttribute("data-status", "RECOVERED");
  await expect(page.locator(".timeline")).toContainText("콘솔 작업 · 지금 결제 재시도");
  await expect(page.locator(".timeline")).toContainText(staff);

  // The scenario: two stages a day apart, canceling at the end; a refused
  // field is explained; saved, a new case takes the new version.
  await page.getByRole("link", { name: "시나리오" }).click();
  await checked(page, info, "scenario");
  await page.getByLabel("재시도 시각 (KST)").fill("3");
  await page.getByRole("button", { name: "새 버전으로 저장" }).click();
  await expect(page.locator("#err-retry_hour")).toContainText("7시에서 21시(KST) 사이");
  await page.getByLabel("재시도 시각 (KST)").fill("11");
  for (let i = 2; i < 4; i++) await page.getByLabel(`단계 ${i + 1} 시간`).fill("");
  await page.getByLabel("단계 2 시간").fill("24");
  await page.getByLabel("끝까지 회수되지 않으면").selectOption("CANCEL");
  await page.getByRole("button", { name: "미리보기" }).click();
  await expect(page.locator(".preview")).toContainText("구독 해지");
  await page.getByRole("button", { name: "새 버전으로 저장" }).click();
  await expect(page.getByRole("status")).toContainText("v1");
  const post = (path: string, data: unknown) =>
    request.post(`${HOST_URL}/api/v1/cover${path}`, { headers: { "Secret-Token": token }, data });
  const customer = await (await post("/customer", { name: "김길동", email: "g@d.com", phone: "01012345678", partnerCustomerId: `c-${run}` })).json();
  const product = await (await post("/product", { name: "멤버십", partnerProductId: `p-${run}` })).json();
  const price = await (await post("/price", { name: "1개월", partnerPriceId: `pr-${run}`, productId: product.id, price: 9900, recurringInterval: "MONTH" })).json();
  const order = await (
    await post("/order", {
      items: [{ priceId: price.id, quantity: 1 }],
      paymentGateway: "NICE",
      customerId: customer.id,
      amount: 9900,
      amountReturned: 0,
      partnerOrderId: `o-${run}`,
      paymentFailed: true,
    })
  ).json();
  expect(order.id).toBeTruthy();
  await page.goto(`${HOST_URL}/console/cases?q=o-${run}`);
  await page.locator("tbody tr a").first().click();
  await expect(page.locator(".timeline")).toContainText("시나리오 v1");

  // Notices: the retry's payment notice, redelivered.
  await page.getByRole("link", { name: "알림 전송" }).click();
  await checked(page, info, "notices");
  await page.getByRole("link", { name: "payment.completed" }).first().click();
  await checked(page, info, "notice");
  await page.getByRole("button", { name: "이 알림 다시 보내기" }).click();
  await expect(page.getByRole("status")).toContainText("1");

  await page.getByRole("link", { name: "설정" }).click();
  await checked(page, info, "settings");
  // English.
  await page.getByRole("link", { name: "English" }).click();
  await expect(page.getByRole("heading", { name: /Settings/ })).toBeVisible();
  await page.getByRole("link", { name: "Overview" }).click();
  await expect(figure(page, "rate-count")).toHaveText(/%/);
  await checked(page, info, "overview-en");
  await page.getByRole("link", { name: "한국어" }).click();
  await signOut(page);
  await checked(page, info, "login");
});

test("another site cannot frame the console", async ({ request }) => {
  const res = await request.get(`${HOST_URL}/console/login`);
  expect(res.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(res.headers()["x-frame-options"]).toBe("DENY");
});
