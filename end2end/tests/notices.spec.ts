// The partner guide's notice verifier (section 6), run as a partner would
// run it: against notices the real server signs and delivers to a backend
// on this machine. The guide's code block is what is tested, verbatim.
import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { DATABASE_URL, SERVER_BIN, seedCase } from "./env";

type Verify = (secret: string, headers: Record<string, string | undefined>, rawBody: Buffer, now?: number) => any;

async function guideVerifier(): Promise<Verify> {
  const guide = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "partner-guide.md"), "utf8");
  const code = /```js rebound-verify-notice\n([\s\S]*?)```/.exec(guide)?.[1];
  if (!code) throw new Error("the guide lost its rebound-verify-notice block");
  const file = path.join(os.tmpdir(), `rebound-verify-${process.pid}-${Date.now()}.mjs`);
  fs.writeFileSync(file, code);
  return (await import(pathToFileURL(file).href)).verifyReboundNotice;
}

function cli(...args: string[]): string {
  return execFileSync(SERVER_BIN, args, { env: { ...process.env, DATABASE_URL, RUST_LOG: "warn" }, encoding: "utf8" });
}

interface Received {
  headers: Record<string, string | undefined>;
  body: Buffer;
}

test("the guide's verifier accepts real notices and refuses tampered or replayed ones", async ({}, testInfo) => {
  test.skip(testInfo.project.name !== "desktop", "a server-to-server test: once is enough");
  const verify = await guideVerifier();
  const received: Received[] = [];
  const backend = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: 0, message: "OK" }));
    });
  });
  await new Promise<void>((ok) => backend.listen(0, "127.0.0.1", ok));
  const port = (backend.address() as { port: number }).port;
  try {
    cli("partner", "set-notify-url", "--name", "demo", "--url", `http://127.0.0.1:${port}/rebound`);
    const secret = /(whsec_\S+)/.exec(cli("partner", "webhook-secret", "--name", "demo"))![1];
    const seeded = seedCase();
    // The case's first notice: recovery started. Its stage 1 goes out at
    // once too, and notices of one batch are delivered concurrently, so
    // arrival order says nothing; pick it by type.
    const isStart = (r: Received) =>
      r.body.toString().includes(seeded.orderId) && r.body.toString().includes('"subscription.status_changed"');
    // The server's notifier polls every second.
    await expect.poll(() => received.some(isStart), { timeout: 15_000 }).toBe(true);
    const notice = received.find(isStart)!;
    const parsed = verify(secret, notice.headers, notice.body);
    expect(parsed.noti_type).toBe("subscription.status_changed");
    expect(parsed.data.partner_order_id).toBe(seeded.orderId);
    expect(parsed.data.subs_status_code).toBe("GRACE");
    expect(parsed.access).toBe("limited");
    expect(parsed.tid).toBe(notice.headers["webhook-id"]);

    const tampered = Buffer.from(notice.body.toString().replace('"GRACE"', '"RENEWED"'));
    expect(() => verify(secret, notice.headers, tampered)).toThrow(/no webhook-signature/);
    const later = Number(notice.headers["webhook-timestamp"]) + 3600;
    expect(() => verify(secret, notice.headers, notice.body, later)).toThrow(/5 minutes/);
    expect(() => verify("whsec_" + Buffer.from("another secret").toString("base64"), notice.headers, notice.body)).toThrow();
  } finally {
    cli("partner", "set-notify-url", "--name", "demo", "--url", "http://127.0.0.1:9/off");
    backend.close();
  }
});
