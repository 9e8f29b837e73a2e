import { spawnSync } from "node:child_process";
import * as YAML from "yaml";
import { parseSettings } from "../components/config";
import { postgresMemory, renderPostgresqlConf } from "../config-templates/postgres";
import { deriveSizing } from "../config-templates/sizing";
import { renderHomeserverYaml } from "../config-templates/synapse";
import {
  differences,
  expectedPostgres,
  expectedSynapse,
  POSTGRES_SIZING,
  postgresValue,
  SYNAPSE_SIZING,
  synapseBytes,
  synapseLoadedScript,
  synapseMs,
} from "./stack/effective";
import { haveTool } from "./support/tools";

describe("what the real-daemon run expects the daemons to hold", () => {
  it("converts sizes and durations as Synapse's parse_size and parse_duration do", () => {
    expect(synapseBytes("16K")).toBe(16 * 1024);
    expect(synapseBytes("819M")).toBe(819 * 1024 ** 2);
    expect(synapseBytes(1000)).toBe(1000);
    expect(synapseMs("5m")).toBe(300_000);
    expect(synapseMs("28d")).toBe(28 * 86_400_000);
    expect(synapseMs("250")).toBe(250);
    expect(() => synapseBytes("1.5G")).toThrow('not a Synapse size: "1.5G"');
    expect(() => synapseMs("2 days")).toThrow('not a Synapse duration: "2 days"');
  });

  it("normalises PostgreSQL memory settings to kB, as SHOW may print them in larger units", () => {
    expect(postgresValue("'1024MB'")).toBe("1048576kB");
    expect(postgresValue("1GB")).toBe("1048576kB");
    expect(postgresValue("16MB")).toBe("16384kB");
    expect(postgresValue("51")).toBe("51");
  });

  it("reads every sizing key from the rendered homeserver.yaml, converted", () => {
    const homeserver = YAML.parse(
      renderHomeserverYaml({
        serverName: "example.org",
        matrixHost: "matrix.example.org",
        turnHost: "turn.example.org",
        federation: parseSettings({ serverName: "example.org", acmeEmail: "a@example.org" }).federation,
        maxUploadBytes: 50 * 1024 * 1024,
        tuning: deriveSizing(4 * 1024 ** 3).synapse,
        extra: {},
      }),
    ) as Record<string, unknown>;
    const expected = expectedSynapse(homeserver);
    expect(Object.keys(expected)).toEqual(SYNAPSE_SIZING.map((s) => s.key));
    expect(expected).toMatchObject({
      "caches.global_factor": 0.8,
      "caches.cache_autotuning.max_cache_memory_usage": 819 * 1024 ** 2,
      "presence.enabled": false,
      "limit_remote_rooms.complexity": 18,
      "limit_remote_rooms.admins_can_join": true,
      max_upload_size: 50 * 1024 ** 2,
      forgotten_room_retention_period: 28 * 86_400_000,
    });
    expect(() => expectedSynapse({ ...homeserver, user_ips_max_age: undefined })).toThrow(
      "the rendered homeserver.yaml has no user_ips_max_age",
    );
  });

  it("reads every memory setting from the rendered postgresql.conf", () => {
    const expected = expectedPostgres(renderPostgresqlConf({ memory: postgresMemory(819) }));
    expect(Object.keys(expected)).toEqual([...POSTGRES_SIZING]);
    expect(expected).toEqual({
      shared_buffers: "208896kB",
      effective_cache_size: "629760kB",
      work_mem: "4096kB",
      maintenance_work_mem: "52224kB",
      wal_buffers: "16384kB",
      max_connections: "51",
    });
  });

  it("names each difference, including a setting the daemon did not report", () => {
    expect(differences({ a: 1, b: "x", c: true }, { a: 1, b: "y" })).toEqual([
      'b: expected "x", got "y"',
      "c: expected true, got undefined",
    ]);
  });

  it("asks Synapse's loader for each key in valid Python", () => {
    haveTool("python3");
    const script = synapseLoadedScript(["/config/homeserver.yaml", "/secrets/homeserver-secret.yaml"]);
    const parsed = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], { input: script });
    expect(parsed.status).toBe(0);
    for (const setting of SYNAPSE_SIZING)
      expect(script).toContain(`${JSON.stringify(setting.key)}: ${setting.python},`);
  });
});
