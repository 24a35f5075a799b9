import { defineConfig, devices } from "@playwright/test";
import { HOST_URL, PARTNER_URL, HOST_PORT, PARTNER_PORT, DATABASE_URL, SERVER_BIN } from "./tests/env";

// The recovery host (our server) and the demo partner site run on different
// origins: http://127.0.0.1:HOST_PORT and http://localhost:PARTNER_PORT.
/** Whole hours from now to the next 12:xx KST (0 within 12:00-12:59). */
const HOURS_TO_NOON_KST = (12 - ((new Date().getUTCHours() + 9) % 24) + 24) % 24;

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  reporter: [["list"]],
  globalTeardown: "./tests/teardown.ts",
  outputDir: "../target/e2e-results",
  use: {
    ...devices["Desktop Chrome"],
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "retain-on-failure",
  },
  projects: [
    { name: "desktop", use: { viewport: { width: 1280, height: 800 } } },
    { name: "phone", use: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true } },
  ],
  webServer: {
    // The demo server's clock (the dev clock, in its database) starts at the
    // next 12:xx in Korea, whatever the wall time: the card companies'
    // night window (23:30-00:40 KST), when nothing is charged, and the
    // quiet hours (21-08), when no message goes, never fall in a run.
    command: `${SERVER_BIN} dev advance --hours ${HOURS_TO_NOON_KST} && exec ${SERVER_BIN} serve --demo --demo-listen 127.0.0.1:${PARTNER_PORT}`,
    url: `${HOST_URL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      REBOUND_LISTEN: `127.0.0.1:${HOST_PORT}`,
      REBOUND_PUBLIC_URL: HOST_URL,
      DATABASE_URL,
      REBOUND_SITE_ROOT: "../target/site",
      REBOUND_SDK_DIR: "../target/sdk",
      RUST_LOG: "warn",
    },
  },
});

