// Batch direct gets through nats.js (@nats-io/jetstream 3.x
// jsm.direct.getBatch and getLastMessagesFor) against the server at
// BATCHGET_URL, whose streams S and KV_h were filled by the Go test
// (fillStream, fillHistory). Prints one line per message or outcome;
// tests/batchget/natsjs_test.go compares the output of cairn and
// nats-server.
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

const nc = await connect({ servers: process.env.BATCHGET_URL });
const jsm = await jetstreamManager(nc);

async function show(what, run) {
  console.log("# " + what);
  try {
    const iter = await run();
    for await (const m of iter) {
      console.log(`${m.subject}@${m.seq} ${JSON.stringify(m.string())} pending=${m.pending} last=${m.lastSequence}`);
    }
    console.log("end");
  } catch (err) {
    console.log("error: " + err.message);
  }
}

await show("batch 3 from 1", () => jsm.direct.getBatch("S", { seq: 1, batch: 3 }));
await show("s.c.* batch 10", () => jsm.direct.getBatch("S", { next_by_subj: "s.c.*", batch: 10 }));
await show("from 6, default batch", () => jsm.direct.getBatch("S", { seq: 6 }));
await show("max_bytes 10", () => jsm.direct.getBatch("S", { seq: 1, batch: 10, max_bytes: 10 }));
await show("past the end", () => jsm.direct.getBatch("S", { seq: 100, batch: 2 }));
await show("all last", () => jsm.direct.getLastMessagesFor("KV_h", { multi_last: ["$KV.h.>"] }));
await show("up to 7", () => jsm.direct.getLastMessagesFor("KV_h", { multi_last: ["$KV.h.>"], up_to_seq: 7 }));
await show("k1 and g.* up to 6, batch 2", () =>
  jsm.direct.getLastMessagesFor("KV_h", { multi_last: ["$KV.h.k1", "$KV.h.g.*"], up_to_seq: 6, batch: 2 }));
await show("up to 2000", () =>
  jsm.direct.getLastMessagesFor("KV_h", { multi_last: ["$KV.h.>"], up_to_time: new Date("2000-01-01T00:00:00Z") }));
await show("unknown key", () => jsm.direct.getLastMessagesFor("KV_h", { multi_last: ["$KV.h.nope"] }));
await show("history 1, up to 2", () => jsm.direct.getLastMessagesFor("KV_p", { multi_last: ["$KV.p.>"], up_to_seq: 2 }));
await nc.close();
