// The @nats-io/kv 3.x scenarios of tests/js/kv.test.mjs against an R3
// bucket, with one connection per node of a three-node cluster (the
// client URLs in CAIRN_URLS, comma-separated): the bucket is created
// through one node, written through another, watched through a third.
// tests/cluster/jsr3_test.go starts the cluster and runs this file with
// node's test runner, from a directory that links tests/js/node_modules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";

const urls = (process.env.CAIRN_URLS || "").split(",").filter((u) => u);
assert.equal(urls.length, 3, "CAIRN_URLS must name the three nodes");

const iterators = new WeakMap();

// next reads one watch entry, failing after a timeout.
async function next(watch, ms = 10000) {
  if (!iterators.has(watch)) iterators.set(watch, watch[Symbol.asyncIterator]());
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("no entry within " + ms + "ms")), ms);
  });
  try {
    const r = await Promise.race([iterators.get(watch).next(), timeout]);
    assert.equal(r.done, false, "watch ended");
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

// eventually polls f until it returns without throwing, for up to ms.
async function eventually(f, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test("R3 bucket: watch, keys, history, create and update across nodes", async () => {
  // Each connection stays on its node (no discovered servers).
  const ncs = await Promise.all(urls.map((u) => connect({ servers: u, ignoreClusterUpdates: true })));
  try {
    const [a, b, c] = ncs.map((nc) => new Kvm(nc));
    await a.create("jsr3", { history: 5, replicas: 3 });
    // The bucket may take a moment to be known on the other nodes.
    const kb = await eventually(() => b.open("jsr3").then(async (kv) => (await kv.status(), kv)));
    const kc = await eventually(() => c.open("jsr3").then(async (kv) => (await kv.status(), kv)));

    assert.equal(await kb.put("a", "1"), 1);
    assert.equal(await kc.put("b.c", "2"), 2);
    await kb.delete("a");
    assert.equal(await kc.put("d", "4"), 4);

    // Latest value of every key (delete markers included), then live,
    // watched on a third node.
    const ka = await a.open("jsr3");
    const w = await ka.watch();
    const initial = [];
    for (let i = 0; i < 3; i++) {
      const e = await next(w);
      initial.push(`${e.key}:${e.revision}:${e.operation}:${e.string()}`);
    }
    assert.deepEqual(initial, ["b.c:2:PUT:2", "a:3:DEL:", "d:4:PUT:4"]);
    await kb.put("a", "again");
    const live = await next(w);
    assert.equal(live.key, "a");
    assert.equal(live.revision, 5);
    assert.equal(live.string(), "again");
    w.stop();

    // Updates only, through the node that did not write.
    const upd = await ka.watch({ include: "updates" });
    await kc.put("z", "zz");
    const u = await next(upd);
    assert.equal(u.key, "z");
    assert.equal(u.revision, 6);
    upd.stop();

    // Create and update by revision, each on another node.
    assert.equal(await kb.create("lock", "x"), 7);
    await assert.rejects(kc.create("lock", "y"), (err) => /wrong last sequence|key exists/i.test(String(err)));
    assert.equal(await ka.update("lock", "y", 7), 8);
    await assert.rejects(kb.update("lock", "z", 7), (err) => /wrong last sequence/i.test(String(err)));
    assert.equal((await kc.get("lock")).string(), "y");

    // Keys and history, from every node.
    for (const kv of [ka, kb, kc]) {
      const keys = [];
      for await (const k of await kv.keys()) keys.push(k);
      assert.deepEqual(keys.sort(), ["a", "b.c", "d", "lock", "z"]);
      const hist = [];
      for await (const e of await kv.history({ key: "a" })) hist.push(`${e.revision}:${e.operation}`);
      assert.deepEqual(hist, ["1:PUT", "3:DEL", "5:PUT"]);
    }

    // Status: three replicas, a cluster block with a leader and two
    // replicas named after the nodes.
    const st = await kc.status();
    assert.equal(st.replicas, 3);
    assert.equal(st.values, 8);
    assert.equal(st.history, 5);
    const cl = st.streamInfo.cluster;
    assert.ok(cl && cl.leader, "stream info names a leader");
    assert.equal(cl.replicas.length, 2);
    assert.deepEqual([cl.leader, ...cl.replicas.map((r) => r.name)].sort(), ["n1", "n2", "n3"]);

    // Destroyed through one node, gone on another.
    assert.equal(await ka.destroy(), true);
    await eventually(() => assert.rejects(kb.status()));
  } finally {
    await Promise.all(ncs.map((nc) => nc.close()));
  }
});
