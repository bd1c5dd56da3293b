package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// The lean watcher: a client that speaks the wire protocol itself over
// one TCP connection, creates the ordered push consumer a nats.go
// WatchAll creates, answers flow control, and only counts what arrives.
// nats.go spends about 1.7 µs of CPU per delivered watch entry, which on
// a 2-core machine caps what a server can be seen to deliver; this
// client spends a fraction of that, so its rate is closer to the
// server's own delivery ceiling.

const (
	leanDeliverSID = 1 // the consumer's deliver subject
	leanReplySID   = 2 // replies to our API requests
	// leanIdle bounds the wait for the next entry: the consumer sends an
	// idle heartbeat every 5 s, so a server that goes this long without
	// delivering has stalled.
	leanIdle = 30 * time.Second
)

// consumerCreate is the request nats.go v1.55.0 sends for a WatchAll
// (an ordered push consumer; js.go, Subscribe with OrderedConsumer and
// DeliverLastPerSubject), field for field.
type consumerCreate struct {
	Stream string         `json:"stream_name"`
	Config consumerConfig `json:"config"`
}

type consumerConfig struct {
	DeliverPolicy  string `json:"deliver_policy"`
	AckPolicy      string `json:"ack_policy"`
	AckWait        int64  `json:"ack_wait"`
	MaxDeliver     int    `json:"max_deliver"`
	FilterSubject  string `json:"filter_subject"`
	ReplayPolicy   string `json:"replay_policy"`
	FlowControl    bool   `json:"flow_control"`
	IdleHeartbeat  int64  `json:"idle_heartbeat"`
	DeliverSubject string `json:"deliver_subject"`
	Replicas       int    `json:"num_replicas"`
	MemStorage     bool   `json:"mem_storage"`
}

// apiResponse is the part of a JetStream API response the watcher reads.
type apiResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// leanWatch connects to serverURL, watches every key of bucket from the
// start as WatchAll does, and returns the time from sending the consumer
// create request to the arrival of the n-th entry. It then deletes the
// consumer and closes the connection. Every read is bounded by deadline
// and by leanIdle without a new entry.
func leanWatch(serverURL, bucket string, n int, deadline time.Time) (time.Duration, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return 0, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	c := &leanConn{conn: conn, w: newWireReader(conn), deadline: deadline}
	if err := c.handshake(); err != nil {
		return 0, err
	}
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	// Two subjects that do not overlap: the deliver subject must not
	// match the wildcard subscription for replies.
	deliver, inbox, consumer := "_INBOX.lean."+token+".deliver", "_INBOX.lean."+token+".reply", "lean"+token
	stream := "KV_" + bucket
	req, _ := json.Marshal(consumerCreate{Stream: stream, Config: consumerConfig{
		DeliverPolicy: "last_per_subject", AckPolicy: "none", AckWait: int64(22 * time.Hour),
		MaxDeliver: 1, FilterSubject: "$KV." + bucket + ".>", ReplayPolicy: "instant",
		FlowControl: true, IdleHeartbeat: int64(5 * time.Second), DeliverSubject: deliver,
		Replicas: 1, MemStorage: true,
	}})
	createSubject := fmt.Sprintf("$JS.API.CONSUMER.CREATE.%s.%s.$KV.%s.>", stream, consumer, bucket)
	if err := c.send("SUB %s %d\r\nSUB %s.* %d\r\n", deliver, leanDeliverSID, inbox, leanReplySID); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.send("PUB %s %s.create %d\r\n%s\r\n", createSubject, inbox, len(req), req); err != nil {
		return 0, err
	}
	var elapsed time.Duration
	for c.received < n || !c.created {
		if err := c.step(); err != nil {
			return 0, fmt.Errorf("after %d of %d entries: %w", c.received, n, err)
		}
		if c.received == n && elapsed == 0 {
			elapsed = time.Since(start)
		}
	}
	// Delete the consumer and wait for the answer, so that the next
	// phase starts on a server without it.
	if err := c.send("UNSUB %d\r\nPUB $JS.API.CONSUMER.DELETE.%s.%s %s.delete 0\r\n\r\n",
		leanDeliverSID, stream, consumer, inbox); err != nil {
		return 0, err
	}
	for !c.deleted {
		if err := c.step(); err != nil {
			return 0, fmt.Errorf("deleting the consumer: %w", err)
		}
	}
	return elapsed, nil
}

// leanConn is the watcher's connection state.
type leanConn struct {
	conn     net.Conn
	w        *wireReader
	deadline time.Time
	received int  // entries delivered
	created  bool // the create request was answered
	deleted  bool // the delete request was answered
	lastData time.Time
}

// handshake reads INFO, sends CONNECT with headers, and waits for the
// PONG that answers its PING (or the -ERR that refuses it).
func (c *leanConn) handshake() error {
	c.lastData = time.Now()
	c.setDeadline()
	f, err := c.w.next()
	if err != nil {
		return err
	}
	if f.kind != frameInfo {
		return fmt.Errorf("%w: expected INFO first", errProtocol)
	}
	if !bytes.Contains(f.text, []byte(`"headers":true`)) {
		return fmt.Errorf("lean: server does not support headers")
	}
	err = c.send("CONNECT %s\r\nPING\r\n",
		`{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"lang":"lean","version":"0"}`)
	if err != nil {
		return err
	}
	for {
		f, err := c.w.next()
		if err != nil {
			return err
		}
		switch f.kind {
		case framePong:
			return nil
		case frameErr:
			return fmt.Errorf("lean: server refused CONNECT: %s", f.text)
		case frameMsg:
			return fmt.Errorf("%w: message before PONG", errProtocol)
		}
	}
}

func (c *leanConn) send(format string, args ...any) error {
	_, err := fmt.Fprintf(c.conn, format, args...)
	return err
}

// setDeadline bounds the next reads by the overall deadline and leanIdle
// after the last entry.
func (c *leanConn) setDeadline() {
	d := c.lastData.Add(leanIdle)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	_ = c.conn.SetReadDeadline(d)
}

// step reads and handles one frame.
func (c *leanConn) step() error {
	f, err := c.w.next()
	if err != nil {
		return err
	}
	switch f.kind {
	case framePing:
		return c.send("PONG\r\n")
	case frameErr:
		return fmt.Errorf("lean: server error: %s", f.text)
	case frameMsg:
	default:
		return nil
	}
	if f.sid == leanReplySID {
		return c.apiReply(f)
	}
	if f.sid != leanDeliverSID {
		return c.w.skipPayload()
	}
	if f.hdrLen > 0 {
		hdr, err := c.w.peekHeader()
		if err != nil {
			return err
		}
		if status := statusOf(hdr); status != 0 {
			return c.control(f, status, hdr)
		}
	}
	c.received++
	if c.received%1024 == 0 {
		c.lastData = time.Now()
		c.setDeadline()
	}
	return c.w.skipPayload()
}

// control handles a status message on the deliver subject: a flow
// control request (100 with a reply) is answered with an empty message
// to its reply; an idle heartbeat (100 without one) that names a stalled
// flow control subject is answered there (ADR-9, as nats.go does).
func (c *leanConn) control(f *frame, status int, hdr []byte) error {
	reply := string(f.reply)
	if reply == "" && status == 100 {
		reply = string(headerValue(hdr, "Nats-Consumer-Stalled"))
	}
	if err := c.w.skipPayload(); err != nil {
		return err
	}
	c.setDeadline()
	if status != 100 {
		return fmt.Errorf("lean: status %d on the deliver subject", status)
	}
	if reply != "" {
		return c.send("PUB %s 0\r\n\r\n", reply)
	}
	return nil
}

// apiReply handles the answer to the create or the delete request.
func (c *leanConn) apiReply(f *frame) error {
	create := bytes.HasSuffix(f.subject, []byte(".create"))
	p, err := c.w.readPayload()
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(p, &r); err != nil {
		return fmt.Errorf("lean: API reply %q: %w", p, err)
	}
	if r.Error != nil {
		return fmt.Errorf("lean: API error %d (%d): %s", r.Error.Code, r.Error.ErrCode, r.Error.Description)
	}
	if create {
		c.created = true
	} else {
		c.deleted = true
	}
	return nil
}
