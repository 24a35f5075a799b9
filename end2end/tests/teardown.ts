import * as fs from "node:fs";
import { DATABASE_URL } from "./env";

export default function teardown() {
  const file = DATABASE_URL.replace(/^sqlite:\/\//, "");
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
}
