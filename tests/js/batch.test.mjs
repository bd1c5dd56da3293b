// Atomic batch publish (ADR-50) through @nats-io/jetstream 3.x
// (js.startBatch) against the server at CAIRN_URL. tests/batch/js_test.go
// runs this file against cairn-server and against nats-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

const url = process.env.CAIRN_URL;
assert.ok(url, "CAIRN_URL must name the server under test");

test("startBatch, add, add with ack, commit", async () => {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "JSB", subjects: ["jsb.>"], allow_atomic: true });
    const js = jetstream(nc);
    const b = await js.startBatch("jsb.a", "1");
    b.add("jsb.b", "2");
    await b.add("jsb.c", "3", { ack: true });
    const ack = await b.commit("jsb.d", "4");
    assert.equal(ack.stream, "JSB");
    assert.equal(ack.seq, 4);
    assert.equal(ack.count, 4);
    assert.equal(typeof ack.batch, "string");
    for (const [seq, subj, data] of [[1, "jsb.a", "1"], [2, "jsb.b", "2"], [3, "jsb.c", "3"], [4, "jsb.d", "4"]]) {
      const m = await jsm.streams.getMessage("JSB", { seq });
      assert.equal(m.subject, subj);
      assert.equal(m.string(), data);
      assert.equal(m.header.get("Nats-Batch-Id"), ack.batch);
      assert.equal(m.header.get("Nats-Batch-Sequence"), String(seq));
      assert.equal(m.header.get("Nats-Batch-Commit"), seq === 4 ? "1" : "");
    }
  } finally {
    await nc.close();
  }
});

test("startBatch on a stream without allow_atomic fails with 10174", async () => {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "JSN", subjects: ["jsn.>"] });
    const js = jetstream(nc);
    await assert.rejects(js.startBatch("jsn.a", "1"), (err) => {
      assert.match(String(err.message), /atomic publish is disabled/);
      return true;
    });
    const info = await jsm.streams.info("JSN");
    assert.equal(info.state.messages, 0);
  } finally {
    await nc.close();
  }
});
