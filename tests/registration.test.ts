/**
 * Synapse's shared-secret registration MAC, against vectors computed independently with Python's
 * hmac module (the algorithm Synapse's own register_new_matrix_user uses).
 */
import { registrationMac } from "../components/users/registration";

describe("registrationMac", () => {
  test.each([
    ["s3cret", "abc123", "alice", "pw", true, "64031137496816d7bc110c787d1ae9e16d0b3268"],
    [
      "0123456789abcdef".repeat(4),
      "thisisanonce",
      "pepper_roni",
      "pizza",
      false,
      "18e42febd06ad11f5944230719a8b84b585e84a5",
    ],
  ])("secret %s, nonce %s, user %s", (secret, nonce, username, password, admin, expected) => {
    expect(registrationMac(secret, nonce, { username, password, admin })).toBe(expected);
  });

  test("admin and non-admin MACs differ, so the flag cannot be flipped in transit", () => {
    const user = { username: "bob", password: "pw" };
    expect(registrationMac("k", "n", { ...user, admin: true })).not.toBe(
      registrationMac("k", "n", { ...user, admin: false }),
    );
  });
});
