/**
 * Synapse's shared-secret registration (`/_synapse/admin/v1/register`): fetch a nonce, then post the
 * user with an HMAC-SHA1 over `nonce \0 username \0 password \0 admin|notadmin` keyed with
 * `registration_shared_secret`. It works while registration is closed, so it is how the first admin
 * (and every user firmground manages) is created.
 */
import { createHmac } from "node:crypto";

export const REGISTER_PATH = "/_synapse/admin/v1/register";

export interface NewUser {
  username: string;
  password: string;
  admin: boolean;
  displayName?: string;
}

/** The `mac` field: hex HMAC-SHA1 of the NUL-joined fields, keyed with the shared secret. */
export function registrationMac(sharedSecret: string, nonce: string, user: Omit<NewUser, "displayName">): string {
  return createHmac("sha1", sharedSecret)
    .update([nonce, user.username, user.password, user.admin ? "admin" : "notadmin"].join("\0"))
    .digest("hex");
}

export interface RegistrationResult {
  status: number;
  body: Record<string, unknown>;
}

/** Registers one user against `baseUrl` (the client-server API root); resolves with Synapse's answer. */
export async function registerWithSharedSecret(
  baseUrl: string,
  sharedSecret: string,
  user: NewUser,
  fetchFn: typeof fetch = fetch,
): Promise<RegistrationResult> {
  const url = new URL(REGISTER_PATH, baseUrl).toString();
  const nonceResponse = await fetchFn(url);
  const nonceBody = (await nonceResponse.json()) as Record<string, unknown>;
  if (nonceResponse.status !== 200 || typeof nonceBody.nonce !== "string") {
    return { status: nonceResponse.status, body: nonceBody };
  }
  const response = await fetchFn(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      nonce: nonceBody.nonce,
      username: user.username,
      password: user.password,
      admin: user.admin,
      ...(user.displayName ? { displayname: user.displayName } : {}),
      mac: registrationMac(sharedSecret, nonceBody.nonce, user),
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
