/**
 * The user job: a short Python program run in a one-shot container from the Synapse image on the
 * internal network, so user management never needs `/_synapse/admin` to be reachable from outside.
 * It reads one job (JSON) from its environment, speaks to http://synapse:8008, prints one JSON line
 * without secrets, and exits with a code from USER_JOB_EXIT.
 */
import { HOSTS, PORTS } from "./paths";

export const USER_JOB_ENV = "FIRMGROUND_USER_JOB";

export type UserJobAction = "ensure" | "add" | "reset-password" | "deactivate" | "list";

/** What the job is told; `password` is the user's, `adminPassword` logs the admin in for updates. */
export interface UserJob {
  action: UserJobAction;
  serverName: string;
  sharedSecret: string;
  adminUser: string;
  adminPassword: string;
  /**
   * The admin's access token, kept in the stack: used instead of logging in, since Synapse allows an
   * account (and an address) only a few logins before rate-limiting it for minutes. A password login
   * is the fallback when the token is refused.
   */
  adminToken?: string;
  /** Return an access token of the (admin) account this job ensured, for the stack to keep. */
  returnToken?: boolean;
  username?: string;
  password?: string;
  admin?: boolean;
  displayName?: string;
  /** With `ensure`: the account should be deactivated (Synapse then also removes it from its rooms). */
  deactivated?: boolean;
  /** How long to wait for Synapse to answer (a first deploy starts it moments before). */
  waitSeconds: number;
}

export const USER_JOB_EXIT = {
  ok: 0,
  failed: 1,
  badSecret: 2,
  unreachable: 3,
  exists: 4,
  unknownUser: 5,
  adminLogin: 6,
  /** Not the script's: the container ended without the script's JSON answer. */
  noAnswer: 7,
} as const;

export const SYNAPSE_INTERNAL_URL = `http://${HOSTS.synapse}:${PORTS.synapse}`;

export function renderUserJobScript(): string {
  const exits = Object.entries(USER_JOB_EXIT)
    .map(([name, code]) => `EXIT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()} = ${code}`)
    .join("\n");
  return `# Rendered by firmground: one user-management job against Synapse's admin API.
import hashlib, hmac, json, os, sys, time, urllib.error, urllib.parse, urllib.request

${exits}
JOB = json.loads(os.environ["${USER_JOB_ENV}"])
BASE = "${SYNAPSE_INTERNAL_URL}"


def finish(code, **fields):
    print(json.dumps({"ok": code == EXIT_OK, "code": code, "action": JOB["action"], "user": JOB.get("username"),
                      "passwordLogins": len(LOGINS), **fields}))
    sys.exit(code)


def call(method, path, body=None, token=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def wait_for_synapse():
    deadline = time.monotonic() + JOB["waitSeconds"]
    while True:
        try:
            with urllib.request.urlopen(BASE + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            finish(EXIT_UNREACHABLE, error="Synapse at %s did not answer within %d s" % (BASE, JOB["waitSeconds"]))
        time.sleep(2)


def user_id(name):
    return "@%s:%s" % (name, JOB["serverName"])


def quoted(name):
    return urllib.parse.quote(user_id(name), safe="")


def register(name, password, admin, display_name):
    status, body = call("GET", "/_synapse/admin/v1/register")
    if status != 200 or "nonce" not in body:
        finish(EXIT_FAILED, error="no registration nonce (%s %s)" % (status, body.get("error")))
    fields = [body["nonce"], name, password, "admin" if admin else "notadmin"]
    mac = hmac.new(JOB["sharedSecret"].encode(), "\\x00".join(fields).encode(), hashlib.sha1).hexdigest()
    payload = {"nonce": body["nonce"], "username": name, "password": password, "admin": admin, "mac": mac}
    if display_name:
        payload["displayname"] = display_name
    status, body = call("POST", "/_synapse/admin/v1/register", payload)
    if status == 403:
        finish(EXIT_BAD_SECRET, error="Synapse refused the registration shared secret (%s)" % body.get("error"))
    return status, body


LOGINS = []
# A password-login session kept for the stack instead of being logged out (the admin's own job).
KEPT = []


def login(name, password):
    status, body = call("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": name},
        "password": password,
        "initial_device_display_name": "firmground",
    })
    LOGINS.append(name)
    return status, body


def kept_admin_token():
    """The admin token kept in the stack, when Synapse still accepts it as the admin's."""
    token = JOB.get("adminToken")
    if token:
        status, body = call("GET", "/_matrix/client/v3/account/whoami", token=token)
        if status == 200 and body.get("user_id") == user_id(JOB["adminUser"]):
            return token
    return None


def admin_token():
    """The kept admin token when still valid; otherwise a password login (logged out after)."""
    token = kept_admin_token()
    if token:
        return token, False
    status, body = login(JOB["adminUser"], JOB["adminPassword"])
    if status != 200:
        finish(EXIT_ADMIN_LOGIN, error="cannot log in as %s with the admin password given (%s %s); was it changed outside firmground?"
               % (user_id(JOB["adminUser"]), status, body.get("error")))
    return body["access_token"], True


def logout(session):
    token, temporary = session
    if temporary:
        call("POST", "/_matrix/client/v3/logout", {}, token)


def existing(session, name):
    status, body = call("GET", "/_synapse/admin/v2/users/" + quoted(name), token=session[0])
    return body if status == 200 else None


def update(name, fields, logout_devices):
    session = admin_token()
    try:
        if JOB["action"] != "ensure" and existing(session, name) is None:
            finish(EXIT_UNKNOWN_USER, error="%s does not exist" % user_id(name))
        status, body = call("PUT", "/_synapse/admin/v2/users/" + quoted(name), dict(fields, logout_devices=logout_devices), session[0])
        if status not in (200, 201):
            finish(EXIT_FAILED, error="updating %s failed (%s %s)" % (user_id(name), status, body.get("error")))
    finally:
        if session[1] and JOB.get("returnToken") and name == JOB["adminUser"]:
            # Still valid after the password change (logout_devices is false): keep it, log in no more.
            KEPT.append(session[0])
        else:
            logout(session)


def kept_token(name, password, registered=None):
    """A token for the stack to keep: the one registration returned, or, if still valid, the old one."""
    if not JOB.get("returnToken"):
        return {}
    if registered or KEPT:
        return {"accessToken": registered or KEPT[0]}
    token = kept_admin_token()
    if token:
        return {"accessToken": token}
    status, body = login(name, password)
    if status != 200:
        finish(EXIT_FAILED, error="cannot log in as %s after setting its password (%s %s)" % (user_id(name), status, body.get("error")))
    return {"accessToken": body["access_token"]}


def main():
    wait_for_synapse()
    action, name = JOB["action"], JOB.get("username")
    if action == "ensure" and JOB.get("deactivated"):
        session = admin_token()
        try:
            found = existing(session, name)
            if found is None:
                finish(EXIT_OK, result="absent")
            if found.get("deactivated"):
                finish(EXIT_OK, result="already deactivated")
            status, body = call("POST", "/_synapse/admin/v1/deactivate/" + quoted(name), {"erase": False}, session[0])
            if status != 200:
                finish(EXIT_FAILED, error="deactivating %s failed (%s %s)" % (user_id(name), status, body.get("error")))
            finish(EXIT_OK, result="deactivated")
        finally:
            logout(session)
    if action in ("ensure", "add"):
        status, body = register(name, JOB["password"], JOB.get("admin", False), JOB.get("displayName"))
        if status == 200:
            finish(EXIT_OK, result="created", **kept_token(name, JOB["password"], body.get("access_token")))
        if body.get("errcode") != "M_USER_IN_USE":
            finish(EXIT_FAILED, error="registering %s failed (%s %s)" % (user_id(name), status, body.get("error")))
        if action == "add":
            finish(EXIT_EXISTS, error="%s already exists; use reset-password to change its password" % user_id(name))
        fields = {"password": JOB["password"], "admin": JOB.get("admin", False), "deactivated": False}
        if JOB.get("displayName"):
            fields["displayname"] = JOB["displayName"]
        update(name, fields, logout_devices=False)
        finish(EXIT_OK, result="updated", **kept_token(name, JOB["password"]))
    if action == "reset-password":
        update(name, {"password": JOB["password"]}, logout_devices=True)
        finish(EXIT_OK, result="password reset")
    session = admin_token()
    token = session[0]
    try:
        if action == "deactivate":
            if existing(session, name) is None:
                finish(EXIT_UNKNOWN_USER, error="%s does not exist" % user_id(name))
            status, body = call("POST", "/_synapse/admin/v1/deactivate/" + quoted(name), {"erase": False}, token)
            if status != 200:
                finish(EXIT_FAILED, error="deactivating %s failed (%s %s)" % (user_id(name), status, body.get("error")))
            finish(EXIT_OK, result="deactivated")
        if action == "list":
            status, body = call("GET", "/_synapse/admin/v2/users?limit=1000&guests=false&deactivated=true", token=token)
            users = [{"name": u["name"], "admin": bool(u.get("admin")), "deactivated": bool(u.get("deactivated")),
                      "displayName": u.get("displayname")} for u in body.get("users", [])]
            finish(EXIT_OK if status == 200 else EXIT_FAILED, users=users)
        finish(EXIT_FAILED, error="unknown action %s" % action)
    finally:
        logout(session)


main()
`;
}
