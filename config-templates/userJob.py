# firmground's user job: one user-management operation against Synapse's admin API, run with
# `python3 -c` in a one-shot container from the Synapse image on the internal network (so
# /_synapse/admin never has to be reachable from outside). It reads the job (JSON) from the
# FIRMGROUND_USER_JOB environment variable, prints one JSON line without secrets, and exits with one of
# the codes below (config-templates/userJob.ts keeps USER_JOB_EXIT equal to them; a test checks it).
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_SECRET = 2
EXIT_UNREACHABLE = 3
EXIT_EXISTS = 4
EXIT_UNKNOWN_USER = 5
EXIT_ADMIN_LOGIN = 6
EXIT_NO_ANSWER = 7
JOB = json.loads(os.environ["FIRMGROUND_USER_JOB"])
# Synapse's internal URL, from the service registry (http://synapse:8008).
BASE = JOB["synapseUrl"]


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
    mac = hmac.new(JOB["sharedSecret"].encode(), "\x00".join(fields).encode(), hashlib.sha1).hexdigest()
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
