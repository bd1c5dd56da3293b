// Watch, keys and history through @nats-io/kv 3.x against the server at
// CAIRN_URL. tests/watch/js_test.go starts cairn-server and runs this
// file with node's built-in test runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";

const url = process.env.CAIRN_URL;
assert.ok(url, "CAIRN_URL must name the server under test");

// iterators remembers the async iterator of each watch.
const iterators = new WeakMap();

// next reads one watch entry, failing after a timeout.
async function next(watch, ms = 5000) {
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

test("watch, keys and history", async () => {
  const nc = await connect({ servers: url });
  try {
    const kvm = new Kvm(nc);
    const kv = await kvm.create("jsbucket", { history: 5 });
    await kv.put("a", "1");
    await kv.put("b.c", "2");
    await kv.delete("a");
    await kv.put("d", "4");

    // Latest value of every key (delete markers included), then live.
    const w = await kv.watch();
    const initial = [];
    for (let i = 0; i < 3; i++) {
      const e = await next(w);
      initial.push(`${e.key}:${e.revision}:${e.operation}:${e.string()}`);
    }
    assert.deepEqual(initial, ["b.c:2:PUT:2", "a:3:DEL:", "d:4:PUT:4"]);
    await kv.put("a", "again");
    const live = await next(w);
    assert.equal(live.key, "a");
    assert.equal(live.revision, 5);
    assert.equal(live.string(), "again");
    assert.equal(live.isUpdate, true);
    w.stop();

    // Several key filters at once (a 2.10+ feature of the client).
    const multi = await kv.watch({ key: ["b.*", "d"] });
    const seen = [(await next(multi)).key, (await next(multi)).key];
    assert.deepEqual(seen, ["b.c", "d"]);
    multi.stop();

    // Updates only.
    const upd = await kv.watch({ include: "updates" });
    await kv.put("z", "zz");
    const u = await next(upd);
    assert.equal(u.key, "z");
    assert.equal(u.revision, 6);
    upd.stop();

    // Keys.
    const keys = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys.sort(), ["a", "b.c", "d", "z"]);

    // History of one key.
    const hist = [];
    for await (const e of await kv.history({ key: "a" })) hist.push(`${e.revision}:${e.operation}`);
    assert.deepEqual(hist, ["1:PUT", "3:DEL", "5:PUT"]);

    await kvm.destroy?.("jsbucket");
  } finally {
    await nc.close();
  }
});
