import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { DATABASE_URL, HOST_URL, SERVER_BIN } from "./env";

// The experiment pages (issue 25), at desktop and 360 px (the two
// projects): a partner's admin starts the default experiment (the current
// scenario against a 10 % holdout) in the console and reads "not enough
// data yet"; then an experiment of 3,000 made-up cases with known rates
// per arm shows its arms side by side, the recovery curves and the plain
// sentence, in Korean and English. axe on every page; screenshots under
// target/e2e-results.

const PASSWORD = "experiment-walk-password-1";

function cli(args: string[], input?: string): string {
  return execFileSync(SERVER_BIN, args, {
    env: { ...process.env, DATABASE_URL, RUST_LOG: "warn" },
    encoding: "utf8",
    input,
  });
}

async function checked(page: Page, info: TestInfo, name: string) {
  await page.screenshot({ path: info.outputPath(`experiment-${name}.png`), fullPage: true });
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(results.violations.map((v) => `${name} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

test("a partner's admin runs an experiment with a holdout and reads what Rebound brought back", async ({ page }, info) => {
  test.setTimeout(120_000);
  const run = `${info.project.name}${Date.now() % 100000}`;
  const partner = `exp-${run}`;
  const admin = `admin-${run}@exp.example`;
  cli(["partner", "create", "--name", partner, "--business-name", "실험 상점", "--origin", "https://shop.exp.example"]);
  cli(["admin", "create", "--email", admin, "--partner", partner], `${PASSWORD}\n`);

  await page.goto(`${HOST_URL}/console/login`);
  await page.getByLabel("이메일").fill(admin);
  await page.getByLabel("비밀번호").fill(PASSWORD);
  await page.getByRole("button", { name: "로그인" }).click();
  await expect(page.getByRole("heading", { name: "회수 현황" })).toBeVisible();

  // The start form offers the default: the current scenario, a 10 % holdout.
  await page.getByRole("link", { name: "실험", exact: true }).click();
  await expect(page.getByRole("heading", { name: "실험", exact: true })).toBeVisible();
  await expect(page.getByLabel("비율 (%)").first()).toHaveValue("90");
  await checked(page, info, "list");
  // Over 20 % in the holdout is refused, and says why.
  await page.getByLabel("비율 (%)").nth(0).fill("70");
  await page.getByLabel("비율 (%)").nth(1).fill("30");
  await page.getByLabel("비밀번호 다시 입력").fill(PASSWORD);
  await page.getByRole("button", { name: "실험 시작" }).click();
  await expect(page.getByRole("alert")).toContainText("20%");
  await checked(page, info, "refused");
  await page.getByLabel("비율 (%)").nth(0).fill("90");
  await page.getByLabel("비율 (%)").nth(1).fill("10");
  await page.getByLabel("비밀번호 다시 입력").fill(PASSWORD);
  await page.getByRole("button", { name: "실험 시작" }).click();
  await expect(page.getByText("아직 데이터가 부족합니다")).toBeVisible();
  await expect(page.getByText(/마감된 케이스가 2000건 더 필요합니다/)).toBeVisible();
  await checked(page, info, "new");
  await page.getByLabel("비밀번호 다시 입력").fill(PASSWORD);
  await page.getByRole("button", { name: /실험 중지/ }).click();
  await expect(page.getByText("중지됨").first()).toBeVisible();

  // Three thousand made-up cases over 90 days: two arms and a holdout.
  cli([
    "experiment", "start", "--partner", partner, "--name", "재시도 실험",
    "--arm", "retries=current:45", "--arm", "messages=current:45", "--arm", "holdout=holdout:10",
    "--horizon", "100", "--window-days", "30",
  ]);
  cli(["dev", "seed-experiment", "--partner", partner, "--cases", "3000", "--days", "90"]);
  await page.getByRole("link", { name: "← 실험 목록" }).click();
  await page.getByRole("link", { name: "재시도 실험" }).click();
  await expect(page.getByRole("heading", { name: "재시도 실험" })).toBeVisible();
  const verdict = page.locator(".verdict");
  await expect(verdict.first()).toContainText("그렇지 않았다면 잃었을");
  await expect(verdict.first()).toContainText("retries");
  await expect(page.locator("table.arms thead th")).toHaveCount(4);
  await expect(page.locator("table.arms")).toContainText("holdout");
  await expect(page.locator(".chart svg")).toHaveCount(1);
  await expect(page.locator(".legend li")).toHaveCount(3);
  await checked(page, info, "figures");

  // The overview shows the running experiment's incremental money.
  await page.getByRole("link", { name: "개요" }).click();
  await expect(page.locator('[data-figure="incremental"]').first()).toContainText("원");
  await checked(page, info, "overview");

  // English.
  await page.getByRole("link", { name: "English" }).click();
  await page.getByRole("link", { name: "Experiments" }).click();
  await page.getByRole("link", { name: "재시도 실험" }).click();
  await expect(page.locator(".verdict").first()).toContainText("that would otherwise be lost");
  await checked(page, info, "figures-en");
  await page.getByRole("link", { name: "한국어" }).click();
});
