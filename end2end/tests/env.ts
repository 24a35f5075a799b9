import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

// Fixed ports (not 3000/3001, so a running `make run` does not collide).
export const HOST_PORT = Number(process.env.E2E_HOST_PORT ?? 3180);
export const PARTNER_PORT = Number(process.env.E2E_PARTNER_PORT ?? 3181);
export const HOST_URL = `http://127.0.0.1:${HOST_PORT}`;
export const PARTNER_URL = `http://localhost:${PARTNER_PORT}`;
// Relative paths are relative to end2end/ (the Makefile passes an absolute one).
export const SERVER_BIN = path.resolve(__dirname, "..", process.env.REBOUND_SERVER_BIN ?? "../target/debug/server");

// One fresh SQLite file per `playwright test` run. The config is loaded first
// in the main process, which sets the id; workers inherit it through the env.
const runId = (process.env.E2E_RUN_ID ??= `${Date.now()}-${process.pid}`);
export const DATABASE_URL = `sqlite://${path.join(os.tmpdir(), `rebound-e2e-${runId}.db`)}`;

export interface SeededCase {
  token: string;
  orderId: string;
}

/** A new failed order for the demo partner, through the operator CLI. */
export function seedCase(idKey = "sandbox_success"): SeededCase {
  const out = execFileSync(SERVER_BIN, ["seed-demo", "--demo-port", String(PARTNER_PORT), "--id-key", idKey], {
    env: { ...process.env, DATABASE_URL, RUST_LOG: "warn" },
    encoding: "utf8",
  });
  const token = /recovery token: (\S+)/.exec(out)?.[1];
  const orderId = /partner order id: (\S+)/.exec(out)?.[1];
  if (!token || !orderId) throw new Error(`unexpected seed-demo output:\n${out}`);
  return { token, orderId };
}

/** The recovery page's URL as the partner's iframe would load it. */
export function embedUrl(path: string, token: string, extra: Record<string, string> = {}): string {
  const url = new URL(`${HOST_URL}${path}`);
  url.searchParams.set("token", token);
  url.searchParams.set("origin", PARTNER_URL);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.href;
}
