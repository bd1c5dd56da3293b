// User/password and token authentication through @nats-io/transport-node
// against cairn-server, then a KV put/get through @nats-io/kv on the
// authenticated connection. tests/watch/js_auth_test.go starts two
// servers and runs this file with node's built-in test runner:
//
//   CAIRN_USER_URL, CAIRN_USER, CAIRN_PASS  a server with --user/--pass
//   CAIRN_TOKEN_URL, CAIRN_TOKEN            a server with --auth
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, errors } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (see tests/watch/js_auth_test.go)`);
  return v;
};
const userURL = env("CAIRN_USER_URL");
const user = env("CAIRN_USER");
const pass = env("CAIRN_PASS");
const tokenURL = env("CAIRN_TOKEN_URL");
const token = env("CAIRN_TOKEN");

// Options every connection shares: no reconnect attempts, so that a
// refused connection fails the connect() promise at once.
const base = { maxReconnectAttempts: 0, reconnect: false, timeout: 5000 };

// putGet writes a key through @nats-io/kv on nc and reads it back.
async function putGet(nc, bucket) {
  const kv = await new Kvm(nc).create(bucket);
  const rev = await kv.put("greeting", "hello " + bucket);
  assert.equal(rev, 1);
  const e = await kv.get("greeting");
  assert.ok(e, "get returned no entry");
  assert.equal(e.string(), "hello " + bucket);
  assert.equal(e.revision, 1);
  assert.equal(e.operation, "PUT");
}

// refused checks that connecting with opts fails with the authorization
// violation the server sends (-ERR 'Authorization Violation'), which the
// client reports as an AuthorizationError.
async function refused(opts) {
  await assert.rejects(connect({ ...base, ...opts }), (err) => {
    assert.ok(
      err instanceof errors.AuthorizationError,
      `want AuthorizationError, got ${err?.name}: ${err?.message}`,
    );
    assert.match(err.message, /authorization violation/i);
    return true;
  });
}

test("user/password: the right password connects and can use KV", async () => {
  const nc = await connect({ ...base, servers: userURL, user, pass });
  try {
    assert.equal(nc.info?.auth_required, true, "INFO must carry auth_required");
    await putGet(nc, "jsauthuser");
  } finally {
    await nc.close();
  }
});

test("user/password: a wrong password is an authorization violation", async () => {
  await refused({ servers: userURL, user, pass: pass + "x" });
});

test("user/password: an unknown user is an authorization violation", async () => {
  await refused({ servers: userURL, user: user + "x", pass });
});

test("user/password: no credentials is an authorization violation", async () => {
  await refused({ servers: userURL });
});

test("token: the right token connects and can use KV", async () => {
  const nc = await connect({ ...base, servers: tokenURL, token });
  try {
    assert.equal(nc.info?.auth_required, true, "INFO must carry auth_required");
    await putGet(nc, "jsauthtoken");
  } finally {
    await nc.close();
  }
});

test("token: a wrong token is an authorization violation", async () => {
  await refused({ servers: tokenURL, token: token + "x" });
});

test("token: user/password instead of the token is an authorization violation", async () => {
  await refused({ servers: tokenURL, user, pass });
});

test("token: no credentials is an authorization violation", async () => {
  await refused({ servers: tokenURL });
});
