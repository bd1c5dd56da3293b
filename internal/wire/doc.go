// Package wire reads and writes the NATS client protocol: the text
// protocol that nats.go, natscli and nats.js speak to a server.
//
// A client sends control lines ended by CRLF, some followed by a payload:
//
//	CONNECT {"verbose":false,"headers":true}
//	SUB orders.* 1
//	PUB orders.new _INBOX.x 5
//	hello
//	HPUB orders.new 22 27
//	NATS/1.0
//	A: b
//
//	hello
//	PING
//
// Parser consumes whatever bytes a socket read returned, however the
// stream was split, and calls a Handler once for each complete operation.
// The encoders (AppendMsg, AppendInfo, ...) build what the server sends
// back. The package knows nothing of the server; it imports only the
// standard library.
package wire
