package server

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzConnect feeds arbitrary CONNECT arguments to parseConnect: it must
// not panic, must fail only with a fatalError (so the client gets
// nats-server's answer and is closed), must leave the options in force
// untouched on failure, and must accept what it produces.
func FuzzConnect(f *testing.F) {
	seeds := []string{
		`{"verbose":false,"pedantic":false,"tls_required":false,"name":"NATS CLI Version 0.5.0","lang":"go","version":"1.55.0","protocol":1,"echo":true,"headers":true,"no_responders":true}`,
		`{"verbose":true}`,
		`{"protocol":5}`,
		`{"protocol":-1}`,
		`{"protocol":99999999999999999999}`,
		`{"user":"a","pass":"b","auth_token":"c"}`,
		`{"verbose":false,"user":"u","pass":"$2a$11$abcdefghijklmnopqrstuu"}`,
		`{"nkey":"UAQK6TCY3M7DOLRYD5WV7PI22WXI7FBD7MBXIVHRLTZOO2R3EXTWWFU2","sig":"AAAA"}`,
		`{"nkey":"UAQK6TCY3M7DOLRYD5WV7PI22WXI7FBD7MBXIVHRLTZOO2R3EXTWWFU2","sig":"+/+/=="}`,
		`{"nkey":1,"sig":null}`,
		`{"user":"u","user":"v","pass":"p"}`,
		`{"auth_token":"\u0000\ud800"}`,
		`{"jwt":"eyJ0eXAiOiJKV1QifQ","nkey":"U","sig":""}`,
		`{"echo":"yes"}`,
		`{bad json`,
		`[]`,
		`null`,
		``,
		`{"headers":true}{"headers":false}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, args []byte) {
		prev := defaultConnectOpts()
		opts, err := parseConnect(prev, args)
		if err != nil {
			var fatal *fatalError
			if !errors.As(err, &fatal) {
				t.Fatalf("%q: error %T %v, want a fatalError", args, err, err)
			}
			if opts != prev {
				t.Fatalf("%q: options changed on failure", args)
			}
			return
		}
		if opts.Protocol < 0 || opts.Protocol > 1 {
			t.Fatalf("%q: accepted protocol %d", args, opts.Protocol)
		}
		again, err := json.Marshal(opts)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := parseConnect(defaultConnectOpts(), again); err != nil || back != opts {
			t.Fatalf("%q: round trip %s gave %+v, %v", args, again, back, err)
		}
	})
}
