// Throwaway TLS material, made with openssl at test time in a temporary
// folder: a CA, a server certificate it signs for 127.0.0.1 and localhost,
// and a second, unrelated CA that a client can wrongly trust.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INSTALL_HINTS } from "./_requires.ts";

export interface TlsFixture {
  /** The folder holding the files below. */
  dir: string;
  /** PEM of the CA that signed the server's certificate, and its path. */
  ca: string;
  caPath: string;
  /** The server's certificate (subjectAltName IP:127.0.0.1, DNS:localhost) and key. */
  cert: string;
  certPath: string;
  key: string;
  keyPath: string;
  /** PEM of a CA that signed nothing the server has. */
  otherCa: string;
  otherCaPath: string;
  /** Removes the folder. */
  remove(): void;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd }, (error, _stdout, stderr) => {
      if (error === null) return resolve();
      const missing = (error as { code?: unknown }).code === "ENOENT";
      const detail = missing
        ? `openssl is not on PATH (install it: ${INSTALL_HINTS.openssl})`
        : `openssl ${args[0]} failed: ${stderr}`;
      reject(
        new Error(`Cannot make test certificates: ${detail}`, { cause: error }),
      );
    });
  });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/** Makes a CA, a server certificate signed by it, and an unrelated CA. */
export async function makeTlsFixture(): Promise<TlsFixture> {
  const dir = mkdtempSync(join(tmpdir(), "framewire-tls-"));
  try {
    const ca = (name: string, cn: string) =>
      openssl([
        "req",
        "-x509",
        ...EC_KEY,
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
        "-days",
        "2",
        "-subj",
        `/CN=${cn}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ], dir);
    await Promise.all([
      ca("ca", "framewire test CA"),
      ca("other-ca", "framewire unrelated CA"),
      openssl([
        "req",
        ...EC_KEY,
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
      ], dir),
    ]);
    writeFileSync(
      join(dir, "server.ext"),
      [
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "",
      ].join("\n"),
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "server.ext",
    ], dir);
    const file = (name: string) => join(dir, name);
    const read = (name: string) => readFileSync(file(name), "utf8");
    return {
      dir,
      ca: read("ca.pem"),
      caPath: file("ca.pem"),
      cert: read("server.pem"),
      certPath: file("server.pem"),
      key: read("server.key"),
      keyPath: file("server.key"),
      otherCa: read("other-ca.pem"),
      otherCaPath: file("other-ca.pem"),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
