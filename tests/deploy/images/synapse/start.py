#!/usr/bin/env python3
# Stand-in for the Synapse image's /start.py (element-hq/synapse docker/start.py, read at v1.157.1),
# written for firmground's tests: the same modes and the same rules for run mode. See imageContracts.ts.
import os
import platform
import sys

MODES = ("run", "generate", "migrate_config")


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def main(args):
    mode = args[1] if len(args) > 1 else "run"
    if mode not in MODES:
        fail("Unknown execution mode '%s'" % (mode,))
    if mode != "run":
        # firmground never generates a config; the stand-in does not either.
        print("stand-in: /start.py %s is not reproduced" % mode, file=sys.stderr)
        sys.exit(1)
    rest = args[2:]
    if "-m" not in rest:
        rest = ["-m", os.environ.get("SYNAPSE_WORKER", "synapse.app.homeserver")] + rest
    if not any(a.startswith(("--config-path", "-c")) for a in rest):
        config_dir = os.environ.get("SYNAPSE_CONFIG_DIR", "/data")
        config_path = os.environ.get("SYNAPSE_CONFIG_PATH", config_dir + "/homeserver.yaml")
        if not os.path.exists(config_path):
            fail("Config file '%s' does not exist." % config_path)
        rest += ["--config-path", config_path]
    environ = dict(os.environ)
    jemalloc = "/usr/lib/%s-linux-gnu/libjemalloc.so.2" % platform.machine()
    if os.path.isfile(jemalloc):
        environ["LD_PRELOAD"] = jemalloc
    if "UID" in os.environ:
        uid, gid = int(os.environ["UID"]), int(os.environ.get("GID", "991"))
    elif os.getuid() == 0:
        uid, gid = 991, 991
    else:
        uid = gid = None
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.execve(sys.executable, [sys.executable] + rest, environ)


main(sys.argv)
