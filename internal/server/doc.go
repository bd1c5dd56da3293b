// Package server is Cairn's core NATS server: it accepts client
// connections, speaks the client protocol (via package wire) and routes
// published messages to matching subscriptions (via package subject).
// It knows nothing about storage: the JetStream and KV layers attach as
// in-process subscribers through Subscribe and answer with Publish.
//
// Data model: each connection is a client with its own subscriptions
// keyed by the sid the client chose. All subscriptions of the server,
// from clients and in-process handlers alike, live in one subject.Index.
// A publish matches its subject once and then
//   - appends a MSG or HMSG line to the outbound buffer of each
//     subscribed client (a writer goroutine per client flushes it), and
//   - calls each in-process handler synchronously, on the publisher's
//     goroutine.
//
// Example: a client sends "SUB orders.* 7" then another sends
// "PUB orders.new 2\r\nhi"; the first receives "MSG orders.new 7 2\r\nhi".
// Meanwhile jsapi has called Subscribe("$JS.API.>", "", h), so a request
// to "$JS.API.INFO" with a reply inbox reaches h, which answers with
// Publish(reply, "", nil, json).
package server
