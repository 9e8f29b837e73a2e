/**
 * waitForDockerDaemon against a real HTTPS server with client-certificate verification, like
 * dockerd --tlsverify: refused while "installing", then answering /_ping. Certificates are made
 * with openssl, the IP SAN is 127.0.0.1, and all traffic stays on loopback.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { pingDockerDaemon, waitForDockerDaemon, type DaemonEndpoint } from "../components/host/dockerDaemon";
import { haveTool, newKeyAndCert, openssl } from "./support/tools";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "firmground-docker-tls-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => path.join(dir, name);
const read = (name: string) => fs.readFileSync(file(name), "utf8");

/** A CA, a server certificate for 127.0.0.1 and a client certificate, like the DockerTls component. */
function makePki(prefix: string) {
  const p = (n: string) => file(`${prefix}-${n}`);
  newKeyAndCert(p("ca.key"), p("ca.pem"), "/CN=test CA");
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"],
    ["client", "extendedKeyUsage=clientAuth\n"],
  ]) {
    fs.writeFileSync(p(`${name}.ext`), ext);
    newKeyAndCert(p(`${name}.key`), p(`${name}.csr`), `/CN=${name}`, false);
    openssl(
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.pem"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p(`${name}.pem`),
      "-days",
      "1",
      "-extfile",
      p(`${name}.ext`),
    );
  }
}

function startDaemon(prefix: string, port = 0): Promise<https.Server> {
  const server = https.createServer(
    {
      ca: read(`${prefix}-ca.pem`),
      cert: read(`${prefix}-server.pem`),
      key: read(`${prefix}-server.key`),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      res.writeHead(req.url === "/_ping" ? 200 : 404, { "content-type": "text/plain" });
      res.end(req.url === "/_ping" ? "OK" : "not found");
    },
  );
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

const endpoint = (prefix: string, port: number, clientPrefix = prefix): DaemonEndpoint => ({
  address: "127.0.0.1",
  port,
  caPem: read(`${prefix}-ca.pem`),
  clientCertPem: read(`${clientPrefix}-client.pem`),
  clientKeyPem: read(`${clientPrefix}-client.key`),
});

haveTool("openssl");
makePki("good");
makePki("other");

test("waits while the daemon refuses connections, then returns once /_ping answers", async () => {
  // Reserve a port, close it (connections are now refused), and start the daemon there later.
  const probe = await startDaemon("good");
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));

  const retries: string[] = [];
  let daemon: https.Server | undefined;
  const started = Date.now();
  const waiting = waitForDockerDaemon(endpoint("good", port), {
    timeoutMs: 20_000,
    intervalMs: 200,
    onRetry: (_n, why) => retries.push(why),
  });
  setTimeout(() => void startDaemon("good", port).then((s) => (daemon = s)), 1_000);
  await waiting;
  daemon?.close();
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(retries.length).toBeGreaterThan(0);
  expect(retries[0]).toMatch(/ECONNREFUSED/);
});

test("a client certificate from another CA is rejected, and the wait ends with a clear error", async () => {
  const daemon = await startDaemon("good");
  const port = (daemon.address() as AddressInfo).port;
  try {
    expect(await pingDockerDaemon(endpoint("good", port))).toBeUndefined();
    const wrongClient = {
      ...endpoint("good", port),
      clientCertPem: read("other-client.pem"),
      clientKeyPem: read("other-client.key"),
    };
    expect(await pingDockerDaemon(wrongClient)).toBeDefined();
    await expect(waitForDockerDaemon(wrongClient, { timeoutMs: 1_000, intervalMs: 200 })).rejects.toThrow(
      new RegExp(
        `The Docker daemon at tcp://127\\.0\\.0\\.1:${port} did not answer within 1 s \\(last error: .+\\)\\. Check the instance's console`,
      ),
    );
    // A server certificate from another CA is not trusted either.
    expect(await pingDockerDaemon({ ...endpoint("good", port), caPem: read("other-ca.pem") })).toMatch(/certificate/);
  } finally {
    daemon.close();
  }
});
